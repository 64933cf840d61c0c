"""Tuning templates for the llvm target: the x86 kernels of this package with their blocking as knobs.

Each default config is the hand-chosen blocking of the kernel's module; tuning searches around it. The
matmul, dense and batch_matmul tiles are sized to the host's vector registers (isa.register_tiles: 6 x 16
first on AVX2, 8 x 32 on AVX-512), so those spaces differ between hosts, never between runs on one host
(a record's space version tells them apart). Templates take plain, JSON-friendly arguments so that records
round-trip:

    matmul(M, N, K, dtype)                                      C = A @ B, B packed in the kernel
    dense(M, N, K, bias, activation, dtype)                     act(x @ W^T + b), W prepacked (see pack_dense_weight)
    batch_matmul(batch, M, N, K, transpose_b, dtype)
    conv2d_nchw(data_shape, weight_shape, strides, padding, dilation, bias, activation, dtype, prepacked_weight,
                residual)                                       NCHWc blocked; prepacked: see pack_conv_weight
    conv2d_nchw_direct(data_shape, weight_shape, strides, padding, dilation, dtype)              no repacking
    group_conv2d_nchw(data_shape, weight_shape, ...)            conv2d_nchw's args; groups = C / weight_shape[1]
    depthwise_conv2d_nchw(data_shape, weight_shape, strides, padding, dilation, bias, activation, dtype)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.layout import parse_layout
from tex.ops.nn.conv2d import conv_output_hw
from tex.ops.reference import conv2d_reference, from_blocked, to_blocked
from tex.ops.x86.batch_matmul import BatchMatmulBlocking, batch_matmul, schedule_batch_matmul
from tex.ops.x86.conv2d import (
    OC_GROUPS,
    Conv2dBlocking,
    conv2d_nchwc,
    default_blocking,
    schedule_conv2d_nchwc,
    unpack_conv_weight,
)
from tex.ops.x86.dense import DenseBlocking, dense, schedule_dense
from tex.ops.x86.depthwise import DepthwiseBlocking, depthwise_conv2d_nchw, schedule_depthwise
from tex.ops.x86.group_conv2d import (
    default_group_blocking,
    default_pointwise_tile,
    group_conv2d_nchwc,
    group_pointwise_gemm,
    schedule_group_conv2d_nchwc,
    schedule_group_pointwise_gemm,
    unpack_group_conv_weight,
)
from tex.ops.x86.isa import register_tiles, vector_lanes, vector_registers
from tex.ops.x86.matmul import MatmulBlocking, host_blocking, matmul_packed, schedule_matmul_packed
from tex.schedule import Schedule, create_schedule
from tex.tune import get_config, template

Array = np.ndarray


def _act(v: Array, activation: str | None) -> Array:
    if activation == "relu":
        return np.maximum(v, 0)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-v))
    if activation == "tanh":
        return np.tanh(v)
    return v


def _inner_candidates(extent: int, wanted: Sequence[int]) -> list[list[int]]:
    """Split candidates [-1, f] for the inner factors f that are at most the extent (at least one)."""
    fs = [f for f in wanted if f <= extent] or [1]
    return [[-1, f] for f in fs]


def _pick(default: int, cands: list[list[int]]) -> list[int]:
    inner = [c[1] for c in cands]
    best = min(inner, key=lambda f: (abs(f - default), -f))
    return [-1, best]


# ---------------------------------------------------------------- matmul
def _tiles(M: int, N: int) -> list[str]:
    """The host's register tiles ("rows x cols", isa.register_tiles) that fit M and N; at least one."""
    lanes = vector_lanes()
    tiles = register_tiles()
    fit = [(r, c) for r, c in tiles if r <= M and c <= max(N, lanes)]
    fit = fit or [min(tiles, key=lambda t: (t[1], t[0]))]
    return [f"{r}x{c}" for r, c in fit]


def _tile(cfg: Any) -> tuple[int, int]:
    r, c = cfg["tile"].val.split("x")
    return int(r), int(c)


def _matmul_ref(M: int, N: int, K: int, dtype: str) -> Callable[[Array, Array], Array]:
    return lambda a, b: (a.astype(np.float64) @ b).astype(dtype)


@template("matmul", reference=_matmul_ref, flop=lambda M, N, K, dtype: 2.0 * M * N * K)
def matmul(M: int, N: int, K: int, dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    """B packed in the kernel; register tiles sized to the host's vector registers (isa.register_tiles)."""
    cfg = get_config()
    host = host_blocking()
    tiles = _tiles(M, N)
    cfg.define_knob("tile", tiles, default=tiles[0])
    cfg.define_knob("unroll_k", [1, 2, 4, 8], default=4)
    # What runs in parallel: column panels (each packs its own panel of B), row tiles or (row, column) tiles.
    # The last two pack all of B into a buffer allocated on every call, which in a process that allocates
    # other large arrays (numpy, onnxruntime) comes back as fresh pages (~100 page faults per call at 1024^3)
    # while the tuner's clean worker process never sees them: where panels are the host default, they are
    # offered only when there are too few panels to keep every core busy.
    few = -(-N // max(int(t.split("x")[1]) for t in tiles)) < 4 * (os.cpu_count() or 1)
    orders = ["panels", "rows", "tiles"] if few or not host.panel_outer else ["panels"]
    cfg.define_knob("parallel", orders, default="panels" if host.panel_outer else "rows")
    tm, tn = _tile(cfg)
    blocking = MatmulBlocking(tm, tn, cfg["unroll_k"].val, fuse_parallel=cfg["parallel"].val == "tiles",
                              vector=vector_lanes(dtype), panel_outer=cfg["parallel"].val == "panels")
    A, B, Bp, C = matmul_packed(M, N, K, bn=tn, dtype=dtype, tile_m=tm)
    s = create_schedule(C)
    schedule_matmul_packed(s, Bp, C, blocking)
    return s, [A, B, C]


# ---------------------------------------------------------------- dense
def _dense_ref(M: int, N: int, K: int, bias: bool, activation: str | None, dtype: str) -> Callable[..., Array]:
    def ref(x: Array, wp: Array, *b: Array) -> Array:
        w_kn = wp.transpose(1, 0, 2).reshape(K, -1)[:, :N]
        v = x.astype(np.float64) @ w_kn
        if bias:
            v = v + b[0]
        return _act(v, activation).astype(dtype)

    return ref


@template("dense", reference=_dense_ref,
          flop=lambda M, N, K, bias, activation, dtype: 2.0 * M * N * K)
def dense_template(M: int, N: int, K: int, bias: bool = False, activation: str | None = None,
                   dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    cfg = get_config()
    tiles = _tiles(M, N)
    cfg.define_knob("tile", tiles, default=tiles[0])
    cfg.define_knob("unroll_k", [1, 2, 4, 8], default=4)
    tm, tn = _tile(cfg)
    blocking = DenseBlocking(tm, tn, cfg["unroll_k"].val, vector=vector_lanes(dtype))
    d = dense(M, N, K, bn=blocking.bn, bias=bias, activation=activation, dtype=dtype, tile_m=tm)
    s = create_schedule(d.out)
    schedule_dense(s, d, blocking)
    return s, [d.x, d.weight, *([d.bias] if d.bias is not None else []), d.out]


# ---------------------------------------------------------------- batch_matmul
def _bmm_ref(batch: int, M: int, N: int, K: int, transpose_b: bool, dtype: str) -> Callable[..., Array]:
    return lambda a, b: (a.astype(np.float64) @ (b.transpose(0, 2, 1) if transpose_b else b)).astype(dtype)


@template("batch_matmul", reference=_bmm_ref,
          flop=lambda batch, M, N, K, transpose_b, dtype: 2.0 * batch * M * N * K)
def batch_matmul_template(batch: int, M: int, N: int, K: int, transpose_b: bool = False,
                          dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    cfg = get_config()
    tiles = _tiles(M, N)
    cfg.define_knob("tile", tiles, default=tiles[0])
    cfg.define_knob("unroll_k", [1, 2, 4, 8], default=4)
    tm, tn = _tile(cfg)
    A, B, C = batch_matmul(batch, M, N, K, dtype=dtype, transpose_b=transpose_b, tile_m=tm)
    s = create_schedule(C)
    schedule_batch_matmul(s, C, BatchMatmulBlocking(tm, tn, cfg["unroll_k"].val, vector=vector_lanes(dtype)))
    return s, [A, B, C]


# ---------------------------------------------------------------- conv2d
def _conv_flop(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
               dilation: Sequence[int], *rest: Any) -> float:
    oh, ow = conv_output_hw(shape, wshape, strides, padding, dilation)
    return 2.0 * shape[0] * wshape[0] * wshape[1] * wshape[2] * wshape[3] * oh * ow


def _conv_ref(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
              dilation: Sequence[int], bias: bool = False, activation: str | None = None,
              dtype: str = "float32", prepacked_weight: bool = False, residual: bool = False,
              data_layout: str = "NCHW", out_layout: str = "NCHW") -> Callable[..., Array]:
    def ref(x: Array, w: Array, *rest: Array) -> Array:
        # "NCHWc": blocked by the config, as the prepacked weight's (.., ic_bn, oc_bn) shape tells
        ob = int(w.shape[5]) if out_layout == "NCHWc" else _layout_block(out_layout, "out_layout")
        if prepacked_weight:
            w = unpack_conv_weight(w)
        if x.ndim == 5:
            x = from_blocked(x)
        v = conv2d_reference(x, w, strides, padding, dilation)
        if bias:
            v = v + rest[0][None, :, None, None]
        if residual:
            v = v + (from_blocked(rest[-1]) if rest[-1].ndim == 5 else rest[-1])
        v = _act(v, activation).astype(dtype)
        return to_blocked(v, ob) if ob else v

    return ref


def _layout_block(layout: str, what: str) -> int | None:
    """The channel block of "NCHW<b>c", None for "NCHW"."""
    return parse_layout(layout, "conv2d_nchw", what)


def _divisors_among(n: int, cands: Sequence[int]) -> list[int]:
    return [c for c in cands if n % c == 0] or [1]


@template("conv2d_nchw", reference=_conv_ref, flop=_conv_flop)
def conv2d_nchw(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
                padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1), bias: bool = False,
                activation: str | None = None, dtype: str = "float32",
                prepacked_weight: bool = False, residual: bool = False, data_layout: str = "NCHW",
                out_layout: str = "NCHW") -> tuple[Schedule, list[Tensor]]:
    """NCHWc conv; with `prepacked_weight` the weight argument is `pack_conv_weight(w, ic_bn, oc_bn)` of the
    config (its shape tells the blocks), as the ONNX executor passes constant weights, packed once; with
    `residual` an argument of the output's shape is added before the activation. `data_layout` and
    `out_layout` "NCHW<b>c" make the data / output (and residual) blocked by b, which fixes the config's
    ic_bn / oc_bn to b: the tuning task of a conv inside a blocked model (onnx_import/passes/layout.py)
    tunes its register tile in the model's blocks. "NCHWc" blocks them by the config's own ic_bn / oc_bn
    (needs the prepacked weight): a task that tunes the blocks too. `shape` stays the logical NCHW shape."""
    if "NCHWc" in (data_layout, out_layout) and not prepacked_weight:
        raise ValueError("conv2d_nchw: layouts blocked by the config ('NCHWc') need prepacked_weight=True")
    cfg = get_config()
    oh, ow = conv_output_hw(shape, wshape, strides, padding, dilation)
    dflt = default_blocking(shape[1], wshape[0], ow, out_height=oh, kernel_size=wshape[2] * wshape[3])
    ic = _divisors_among(shape[1], [1, 2, 3, 4, 8, 16, 32, 64]) if shape[1] >= 16 else [shape[1]]
    oc = _divisors_among(wshape[0], [4, 8, 16, 32, 64])
    # a layout with its own block ("NCHW16c") fixes that block: the knob has that one value, so a task of a
    # conv inside a blocked model tunes the register tile in exactly the blocks the model runs it in
    fixed_in, fixed_out = (None if layout == "NCHWc" else _layout_block(layout, what)
                           for layout, what in ((data_layout, "data_layout"), (out_layout, "out_layout")))
    for blk, ch, what in ((fixed_in, shape[1], "data_layout"), (fixed_out, wshape[0], "out_layout")):
        if blk and ch % blk:
            raise ValueError(f"conv2d_nchw: {what} block {blk} does not divide the {ch} channels")
    ic, oc = ([fixed_in] if fixed_in else ic), ([fixed_out] if fixed_out else oc)
    regs = _inner_candidates(ow, [2, 3, 4, 5, 6, 7, 8, 12, 14, 16])
    cfg.define_knob("ic_bn", ic, default=dflt.ic_bn if dflt.ic_bn in ic else ic[-1])
    cfg.define_knob("oc_bn", oc, default=dflt.oc_bn if dflt.oc_bn in oc else oc[0])
    cfg.define_split("reg_n", ow, policy="candidate", candidate=regs, default=_pick(dflt.reg_n, regs))
    cfg.define_knob("unroll_kw", [True, False], default=dflt.unroll_kw)
    cfg.define_knob("reg_h", _divisors_among(oh, [1, 2]), default=dflt.reg_h)  # 2 only where it divides oh
    # output-channel blocks per row sweep (clamped to divide the blocks): 1 = channel-major, 64 = row-major
    cfg.define_knob("oc_group", list(OC_GROUPS), default=dflt.oc_group)
    blocking = Conv2dBlocking(cfg["ic_bn"].val, cfg["oc_bn"].val, cfg["reg_n"].size[-1], cfg["unroll_kw"].val,
                              reg_h=cfg["reg_h"].val, oc_group=cfg["oc_group"].val)
    accumulators = blocking.reg_h * blocking.reg_n * -(-blocking.oc_bn // vector_lanes(dtype))
    if accumulators > vector_registers():
        # such a tile spills its accumulators in every step of the reduction (3-10x slower): refused as an
        # invalid config, which the tuner records without building or timing it
        raise ValueError(f"conv2d_nchw: a register tile of {accumulators} vector accumulators does not fit the "
                         f"{vector_registers()} vector registers")
    t = conv2d_nchwc(tuple(shape), tuple(wshape), tuple(strides), tuple(padding), tuple(dilation),  # type: ignore[arg-type]
                     blocking, bias=bias, activation=activation, dtype=dtype, prepacked_weight=prepacked_weight,
                     residual=residual, data_blocked=data_layout != "NCHW", out_blocked=out_layout != "NCHW")
    s = create_schedule(t.out)
    schedule_conv2d_nchwc(s, t, blocking)
    return s, [t.data, t.weight, *([t.bias] if t.bias is not None else []),
               *([t.residual] if t.residual is not None else []), t.out]


def _group_conv_ref(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
                    dilation: Sequence[int], bias: bool = False, activation: str | None = None,
                    dtype: str = "float32", prepacked_weight: bool = False,
                    residual: bool = False) -> Callable[..., Array]:
    groups = shape[1] // wshape[1]

    def ref(x: Array, w: Array, *rest: Array) -> Array:
        if prepacked_weight:
            w = unpack_group_conv_weight(w, groups, wshape[0])
        v = conv2d_reference(x, w, strides, padding, dilation, groups=groups)
        if bias:
            v = v + rest[0][None, :, None, None]
        if residual:
            v = v + rest[-1]
        return _act(v, activation).astype(dtype)

    return ref


@template("group_conv2d_nchw", reference=_group_conv_ref, flop=_conv_flop)
def group_conv2d_nchw(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
                      padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1), bias: bool = False,
                      activation: str | None = None, dtype: str = "float32",
                      prepacked_weight: bool = False, residual: bool = False) -> tuple[Schedule, list[Tensor]]:
    """Grouped NCHWc conv with conv2d_nchw's arguments: the (O, C/groups, KH, KW) weight gives the groups;
    ic_bn divides a group's inputs, a group's outputs are padded to whole oc_bn blocks; prepacked:
    pack_group_conv_weight(w, groups, ic_bn, oc_bn)."""
    cfg = get_config()
    groups = max(shape[1] // wshape[1], 1)  # a weight that does not fit is refused by group_conv2d_nchwc
    cg, og = wshape[1], wshape[0] // groups
    _, ow = conv_output_hw(shape, wshape, strides, padding, dilation)
    dflt = default_group_blocking(shape[1], wshape[0], groups, ow)
    ic = sorted({*_divisors_among(cg, [1, 2, 4, 8, 16, 32, 64]), dflt.ic_bn})
    oc = [b for b in (2, 4, 8, 16, 32) if b < 2 * og] or [dflt.oc_bn]  # padding under one block per group
    # one group (a plain conv with padded outputs) may take the whole row, e.g. SqueezeNet's 13 columns
    regs = _inner_candidates(ow, sorted({2, 4, 6, 7, 8, 12, 14, 16} | ({dflt.reg_n} if groups == 1 else set())))
    cfg.define_knob("ic_bn", ic, default=dflt.ic_bn)
    cfg.define_knob("oc_bn", oc, default=dflt.oc_bn if dflt.oc_bn in oc else oc[-1])
    cfg.define_split("reg_n", ow, policy="candidate", candidate=regs, default=_pick(dflt.reg_n, regs))
    cfg.define_knob("unroll_kw", [True, False], default=True)
    blocking = Conv2dBlocking(cfg["ic_bn"].val, cfg["oc_bn"].val, cfg["reg_n"].size[-1], cfg["unroll_kw"].val)
    t = group_conv2d_nchwc(tuple(shape), tuple(wshape), groups, blocking, tuple(strides),  # type: ignore[arg-type]
                           tuple(padding), tuple(dilation), bias=bias, activation=activation, dtype=dtype,  # type: ignore[arg-type]
                           prepacked_weight=prepacked_weight, residual=residual)
    s = create_schedule(t.out)
    schedule_group_conv2d_nchwc(s, t, blocking)
    return s, [t.data, t.weight, *([t.bias] if t.bias is not None else []),
               *([t.residual] if t.residual is not None else []), t.out]


_UNIT = ((1, 1), (0, 0, 0, 0), (1, 1))  # a pointwise conv's strides, padding and dilation


def _group_pointwise_ref(shape: Sequence[int], wshape: Sequence[int], bias: bool = False,
                         activation: str | None = None, dtype: str = "float32",
                         residual: bool = False) -> Callable[..., Array]:
    """group_conv2d_nchw's reference on the NCHW views of the kernel's (N, C, H*W) / (O, C/groups) buffers."""
    nchw = _group_conv_ref(shape, wshape, *_UNIT, bias, activation, dtype, False, residual)
    out_nchw = (shape[0], wshape[0], shape[2], shape[3])

    def ref(x: Array, wt: Array, *rest: Array) -> Array:
        rest = (*rest[:-1], rest[-1].reshape(out_nchw)) if residual else rest
        v = nchw(x.reshape(shape), wt.reshape(wshape), *rest)
        return v.reshape(shape[0], shape[1] // wshape[1], -1, shape[2] * shape[3])

    return ref


def _pointwise_flop(shape: Sequence[int], wshape: Sequence[int], *rest: Any) -> float:
    return _conv_flop(shape, wshape, *_UNIT)


@template("group_conv2d_pointwise", reference=_group_pointwise_ref, flop=_pointwise_flop)
def group_conv2d_pointwise(shape: Sequence[int], wshape: Sequence[int], bias: bool = False,
                           activation: str | None = None, dtype: str = "float32",
                           residual: bool = False) -> tuple[Schedule, list[Tensor]]:
    """A grouped 1x1, stride-1, unpadded conv (NCHW `shape`, (O, C/groups, 1, 1) weight) as one GEMM per
    group over the pixels (group_conv2d.group_pointwise_gemm): arguments are the NCHW data as (N, C, H*W),
    the weight as (O, C/groups), [bias], [residual and] output as (N, groups, O/groups, H*W): the graph's
    buffers as they are."""
    cfg = get_config()
    groups = max(shape[1] // wshape[1], 1)  # a weight that does not fit is refused by group_pointwise_gemm
    pixels = shape[2] * shape[3]
    v = vector_lanes(dtype)
    # rows x (1, 2 or 4 vectors of pixels): accumulators, the pixel vectors and a broadcast in the registers
    tiles = [f"{r}x{c}" for r in (2, 4, 6, 8, 12) for c in (v, 2 * v, 4 * v)
             if r * (c // v) + c // v + 1 <= vector_registers()]
    dr, dc = default_pointwise_tile(pixels, v)
    cfg.define_knob("tile", tiles, default=f"{dr}x{dc}")
    cfg.define_knob("unroll_k", [1, 2, 4], default=2)
    tm, tn = _tile(cfg)
    data, weight, bias_t, res_t, acc, out = group_pointwise_gemm(
        tuple(shape), tuple(wshape), groups, tm, bias=bias, activation=activation, dtype=dtype,  # type: ignore[arg-type]
        residual=residual)
    s = create_schedule(out)
    schedule_group_pointwise_gemm(s, acc, out, tm, tn, cfg["unroll_k"].val)
    return s, [data, weight, *([bias_t] if bias_t is not None else []), *([res_t] if res_t is not None else []), out]


def _direct_ref(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
                dilation: Sequence[int], dtype: str = "float32") -> Callable[..., Array]:
    return _conv_ref(shape, wshape, strides, padding, dilation, False, None, dtype)


@template("conv2d_nchw_direct", reference=_direct_ref, flop=_conv_flop)
def conv2d_nchw_direct(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
                       padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1),
                       dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    """Direct NCHW convolution (no layout change): an (oc tile x ow tile) register block per output row."""
    n, c, h, w = shape
    oc, _, kh, kw = wshape
    (sh, sw), (dh, dw) = strides, dilation
    pt, pl, pb, pr = padding
    oh, ow = conv_output_hw(shape, wshape, strides, padding, dilation)
    data = dsl.placeholder(tuple(shape), dtype=dtype, name="data")
    weight = dsl.placeholder(tuple(wshape), dtype=dtype, name="weight")
    zero = dsl.const(0, dtype)
    padded = dsl.compute(
        (n, c, h + pt + pb, w + pl + pr),
        lambda b, ch, y, x: dsl.if_then_else(dsl.all(y >= pt, y < h + pt, x >= pl, x < w + pl),
                                             data[b, ch, y - pt, x - pl], zero), name="padded")
    rc, ry, rx = dsl.reduce_axis((0, c), "rc"), dsl.reduce_axis((0, kh), "ry"), dsl.reduce_axis((0, kw), "rx")
    out = dsl.compute((n, oc, oh, ow), lambda b, o, y, x: dsl.sum(
        padded[b, rc, y * sh + ry * dh, x * sw + rx * dw] * weight[o, rc, ry, rx], axis=[rc, ry, rx]),
        name="out", tag="conv2d_nchw")
    cfg = get_config()
    ocs = _inner_candidates(oc, [1, 2, 4, 8])
    ows = _inner_candidates(ow, [4, 8, 16, 32])
    cfg.define_split("tile_oc", oc, policy="candidate", candidate=ocs, default=_pick(4, ocs))
    cfg.define_split("tile_ow", ow, policy="candidate", candidate=ows, default=_pick(16, ows))
    cfg.define_knob("unroll_kw", [True, False], default=True)
    s = create_schedule(out)
    s[padded].compute_inline()
    local = s.cache_write(out, "local")
    b, o, y, x = s[out].op.axis
    oo, oi = cfg["tile_oc"].apply(s, out, o)
    xo, xi = cfg["tile_ow"].apply(s, out, x)
    s[out].reorder(b, oo, y, xo, oi, xi)
    s[out].vectorize(xi)
    par = s[out].fuse(b, oo, y)
    s[out].parallel(par)
    s[local].compute_at(s[out], xo)
    _, lo, _, lx = s[local].op.axis
    lrc, lry, lrx = s[local].op.reduce_axis
    s[local].reorder(lrc, lry, lrx, lo, lx)
    s[local].unroll(lo)
    s[local].vectorize(lx)
    if cfg["unroll_kw"].val:
        s[local].unroll(lrx)
    return s, [data, weight, out]


# ---------------------------------------------------------------- depthwise
def _dw_ref(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
            dilation: Sequence[int], bias: bool = False, activation: str | None = None,
            dtype: str = "float32") -> Callable[..., Array]:
    def ref(x: Array, w: Array, *b: Array) -> Array:
        v = conv2d_reference(x, w, strides, padding, dilation, groups=shape[1])
        if bias:
            v = v + b[0][None, :, None, None]
        return _act(v, activation).astype(dtype)

    return ref


def _dw_flop(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
             dilation: Sequence[int], *rest: Any) -> float:
    oh, ow = conv_output_hw(shape, wshape, strides, padding, dilation)
    return 2.0 * shape[0] * wshape[0] * wshape[2] * wshape[3] * oh * ow


@template("depthwise_conv2d_nchw", reference=_dw_ref, flop=_dw_flop)
def depthwise_conv2d(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
                     padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1), bias: bool = False,
                     activation: str | None = None, dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    cfg = get_config()
    cfg.define_knob("vector_x", [4, 8, 16, 32], default=16)
    cfg.define_knob("unroll_window", [True, False], default=True)
    blocking = DepthwiseBlocking(cfg["vector_x"].val, cfg["unroll_window"].val)
    d = depthwise_conv2d_nchw(tuple(shape), tuple(wshape), tuple(strides), tuple(padding),  # type: ignore[arg-type]
                              tuple(dilation), bias=bias, activation=activation, dtype=dtype)  # type: ignore[arg-type]
    s = create_schedule(d.out)
    schedule_depthwise(s, d, blocking)
    return s, [d.data, d.weight, *([d.bias] if d.bias is not None else []), d.out]
