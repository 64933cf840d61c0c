"""conv2d for x86 CPUs in the blocked NCHW[x]c layout, with its register-blocked schedule.

The NCHW input and OIHW weights are repacked into channel blocks so that the innermost loop is a vector
of `oc_bn` output channels: `out[n, oc, oh, ow, ocb] += data[n, ic, oh*s + kh*d, ow*s + kw*d, icb] *
weight[oc, ic, kh, kw, icb, ocb]`, with a register tile of `reg_h` output rows x `reg_n` columns x one block
of output channels accumulated in a local stage (TVM's conv2d_NCHWc schedule for x86; a tile that does not
divide the row leaves a tail that lowering partitions off), and row blocks swept for `oc_group`
output-channel blocks at a time. By default the result
is unpacked back to NCHW, so the operator is a drop-in replacement for a plain NCHW conv2d; a model whose
activations stay blocked between convs (onnx_import/passes/layout.py) takes and returns NCHW[b]c directly
(`data_blocked`, `out_blocked`), so no kernel repacks them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.nn.conv2d import conv_output_hw
from tex.ops.x86.isa import vector_lanes
from tex.schedule import Schedule


@dataclass(frozen=True)
class Conv2dBlocking:
    """Channel blocks of the packed layouts, the register tile (reg_h output rows x reg_n columns x one
    oc_bn block), and kw unrolling."""

    ic_bn: int = 16
    oc_bn: int = 16
    reg_n: int = 8
    unroll_kw: bool = True
    parallel: bool = True
    reg_h: int = 1
    oc_group: int = 1  # output-channel blocks per row-block sweep: >1 reuses each input row block across them


@dataclass(frozen=True)
class Conv2dNCHWc:
    """The tensors of a packed conv2d: inputs, the packing stages, the blocked conv and the NCHW output."""

    data: Tensor
    weight: Tensor
    data_pack: Tensor  # the padded, blocked input: a stage, or `data` itself when that is blocked and unpadded
    weight_pack: Tensor
    conv: Tensor
    out: Tensor
    bias: Tensor | None = None
    residual: Tensor | None = None


OC_GROUPS = (1, 2, 4, 8, 16, 32, 64)  # the oc_group values tried: clamped to divide the output-channel blocks


def default_blocking(in_channels: int, out_channels: int, out_width: int, lanes: int | None = None,
                     out_height: int = 1, kernel_size: int = 1) -> Conv2dBlocking:
    """Channel blocks of one vector register (`lanes` float32, the host's by default: 16 on AVX-512, 8 on
    AVX2) where they divide the channel counts, and a register tile dividing the output if one fits. One
    vector of output channels per block leaves registers for a row of reg_n accumulators on either ISA.
    `kernel_size` (kh * kw) sizes a block's weights, for the order of the row-block sweep (oc_group)."""
    v = lanes or vector_lanes("float32")

    def block(c: int) -> int:
        return next(b for b in (v, 16, 8, 4, 2, 1) if c % b == 0)

    ic_bn = block(in_channels) if in_channels >= v else in_channels
    if v == 8 and out_channels % 16 == 0:
        # AVX2: two vectors of output channels (2 weight vectors + a broadcast leave 13 registers for
        # accumulators) in tiles whose tail lowering partitions off (tex/ir/transform/partition.py)
        # 12 accumulators: 1.1-1.3x the 8 of 1 x 4 and 2 x 2 tiles on ResNet-50's 3x3 layers (2 threads)
        if (out_height == 1 and out_width >= 6) or out_width >= 24:
            # long rows (pointwise convs run as images of a few long rows, see pointwise_as_row): GEMM's
            # 6 x 16 tile
            reg_n, reg_h = 6, 1
        elif out_height % 2 == 0 and out_width >= 3:
            # narrow even planes (ResNet-50's 14x14): 2 rows x 3 columns
            reg_n, reg_h = 3, 2
        else:
            # odd narrow planes (SqueezeNet's 13x13, ResNet-50's 7x7): x 6 columns, x 4 below 12
            reg_n, reg_h = (6 if out_width >= 12 else min(4, out_width)), 1
        b = Conv2dBlocking(ic_bn=ic_bn, oc_bn=16, reg_n=reg_n, reg_h=reg_h)
    elif v == 16 and out_channels % 32 == 0:
        # AVX-512: two vectors of output channels as well; 32 registers leave 29 for accumulators, so tiles
        # of up to 14 columns (2 x 14 = 28). Each broadcast then feeds two FMAs and each weight vector 12-14:
        # 1.2-1.35x the one-vector x 8-column tiles on ResNet-50's convs (one thread), 1.0-1.3x onnxruntime
        unroll_kw = True
        if in_channels < v:
            # unblocked inputs (an RGB stem): a 7x7 stride-2 window over 3 channels keeps 8 columns best.
            # Unrolled, its 7 taps of a row share most of their inputs across the 8 columns, and LLVM keeps
            # the shared broadcasts live: 1.6x slower than the rolled kw loop (ResNet-50's stem, one thread)
            reg_n, reg_h = min(8, out_width), 1
            unroll_kw = kernel_size <= 9
        elif kernel_size == 1 and in_channels >= 4 * out_channels and out_width >= 16:
            # a pointwise conv that shrinks the channels 4x (ResNet-50's 256 -> 64 and 512 -> 128) reads 4
            # input floats per output: 8 columns were 1.15-1.35x faster than 14 alone, 1.6% on the model
            reg_n, reg_h = 8, 1
        elif out_width >= 14:
            reg_n, reg_h = (14 if out_width % 14 == 0 else 12), 1
        elif out_width >= 7:
            reg_n, reg_h = out_width, 1  # the whole row in one tile
        else:
            # narrower planes: two rows where they divide the plane (the conv2d_nchw template's reg_h knob
            # offers 1 and 2; 2 x 6 x 2 vectors is still within the 28 accumulators)
            reg_n, reg_h = out_width, (2 if out_height % 2 == 0 else 1)
        b = Conv2dBlocking(ic_bn=ic_bn, oc_bn=32, reg_n=reg_n, reg_h=reg_h, unroll_kw=unroll_kw)
    else:
        reg_n = next((r for r in (8, 7, 14, 6, 4) if out_width % r == 0), 8)
        b = Conv2dBlocking(ic_bn=ic_bn, oc_bn=block(out_channels), reg_n=reg_n)
    # sweep the row blocks once for as many output-channel blocks as keep their weights in half of L2
    # (256 KiB): each input row block is then read from L2 once per group, not once per block (1x1 convs
    # over many input channels were 1.2-1.4x faster so)
    blocks = out_channels // b.oc_bn
    weight_bytes = in_channels * kernel_size * b.oc_bn * 4
    group = max((g for g in OC_GROUPS if blocks % g == 0 and g * weight_bytes <= 256 * 1024), default=1)
    return dataclasses.replace(b, oc_group=group)


PARALLEL_ROWS = 16  # the (output-channel block x row) iterations a pointwise conv's rows should give the cores


def pointwise_as_row(shape: tuple[int, ...], weight_shape: tuple[int, ...], strides: tuple[int, ...],
                     padding: tuple[int, ...], lanes: int | None = None) -> tuple[int, ...]:
    """The data shape to compile a conv with: for a pointwise conv (1x1 kernel, stride 1, no padding) an image
    of R rows x H*W/R columns, whose NCHW and NCHW[b]c buffers hold the same bytes; else `shape`.

    Long rows free the register tile from the row width (7 or 14 on ResNet-50's late stages: there it is
    the long-row tile of `default_blocking`); R, the fewest rows dividing H*W that give PARALLEL_ROWS
    (default output-channel blocks x rows) to run in parallel, keeps a conv with few output channels (a
    16-channel squeeze conv has one block) from running on one core. No fewer rows than H: `shape` itself.
    `lanes` as for default_blocking (the host's by default)."""
    if tuple(weight_shape[2:]) != (1, 1) or any(s != 1 for s in strides) or any(padding) or len(shape) != 4:
        return tuple(shape)
    n, c, h, w = shape
    oc_bn = default_blocking(c, weight_shape[0], w, lanes).oc_bn
    need = -(-PARALLEL_ROWS // max(weight_shape[0] // oc_bn, 1))
    rows = next((r for r in range(need, h * w + 1) if (h * w) % r == 0), h * w)
    return (n, c, rows, h * w // rows) if rows < h else tuple(shape)


def pack_conv_weight(w: np.ndarray, ic_bn: int, oc_bn: int) -> np.ndarray:
    """OIHW -> (O/oc_bn, I/ic_bn, KH, KW, ic_bn, oc_bn), the layout of `prepacked_weight`."""
    o, i, kh, kw = w.shape
    return np.ascontiguousarray(w.reshape(o // oc_bn, oc_bn, i // ic_bn, ic_bn, kh, kw).transpose(0, 2, 4, 5, 3, 1))


def unpack_conv_weight(wp: np.ndarray) -> np.ndarray:
    """The inverse of pack_conv_weight: (O/oc_bn, I/ic_bn, KH, KW, ic_bn, oc_bn) -> OIHW."""
    ocb, icb, kh, kw, ib, ob = wp.shape
    return np.ascontiguousarray(wp.transpose(0, 5, 1, 4, 2, 3).reshape(ocb * ob, icb * ib, kh, kw))


def conv2d_nchwc(
    shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int],
    strides: tuple[int, int] = (1, 1), padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1), blocking: Conv2dBlocking = Conv2dBlocking(), bias: bool = False,
    activation: str | None = None, dtype: str = "float32", prepacked_weight: bool = False, residual: bool = False,
    data_blocked: bool = False, out_blocked: bool = False,
) -> Conv2dNCHWc:
    """A conv2d with NCHW data and OIHW weights computed in the NCHW[ic_bn]c / OIHW[ic_bn]i[oc_bn]o layouts.

    padding is (top, left, bottom, right); activation is None or "relu", applied with the optional bias
    in the unpacking stage. With `prepacked_weight` the weight argument is already in the packed layout
    (`pack_conv_weight`, once, for constant weights) and `weight_pack` is that argument, not a stage.
    With `residual` an NCHW tensor of the output's shape is added before the activation (a ResNet block's
    shortcut), so the sum is written once instead of in a separate pass.
    `shape` is always the logical NCHW shape; with `data_blocked` the data argument is NCHW[ic_bn]c,
    (N, C/ic_bn, H, W, ic_bn), and with `out_blocked` the output (and the residual) is NCHW[oc_bn]c.
    """
    n, c, h, w = shape
    oc, ic, kh, kw = weight_shape
    if ic != c:
        raise ValueError(f"conv2d_nchwc: weight has {ic} input channels, data has {c}")
    icb, ocb = blocking.ic_bn, blocking.oc_bn
    if c % icb or oc % ocb:
        raise ValueError(f"conv2d_nchwc: ic_bn={icb} must divide {c} input channels and oc_bn={ocb} must divide "
                         f"{oc} output channels")
    (sh, sw), (dh, dw) = strides, dilation
    pt, pl, pb, pr = padding
    oh, ow = conv_output_hw(shape, weight_shape, strides, padding, dilation)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_nchwc: output would be {oh}x{ow}; check kernel size, padding and stride")
    hp, wp = h + pt + pb, w + pl + pr

    data = dsl.placeholder((n, c // icb, h, w, icb) if data_blocked else shape, dtype=dtype, name="data")
    weight = dsl.placeholder(weight_shape, dtype=dtype, name="weight")
    zero = dsl.const(0, dtype)

    def pad_pack(b: object, co: object, y: object, x: object, ci: object) -> object:
        yy, xx = y - pt, x - pl  # type: ignore[operator]
        inside = dsl.all(yy >= 0, yy < h, xx >= 0, xx < w)  # type: ignore[operator]
        v = data[b, co, yy, xx, ci] if data_blocked else data[b, co * icb + ci, yy, xx]  # type: ignore[index,operator]
        return dsl.if_then_else(inside, v, zero)

    if data_blocked and not any(padding):
        data_pack = data
    else:
        data_pack = dsl.compute((n, c // icb, hp, wp, icb), pad_pack, name="data_pack", tag="layout")
    if prepacked_weight:
        weight = weight_pack = dsl.placeholder((oc // ocb, c // icb, kh, kw, icb, ocb), dtype=dtype,
                                               name="weight_packed")
    else:
        weight_pack = dsl.compute((oc // ocb, c // icb, kh, kw, icb, ocb),
                                  lambda o, i, y, x, ii, oo: weight[o * ocb + oo, i * icb + ii, y, x],
                                  name="weight_pack", tag="layout")
    rc = dsl.reduce_axis((0, c), name="rc")
    ry = dsl.reduce_axis((0, kh), name="ry")
    rx = dsl.reduce_axis((0, kw), name="rx")
    conv = dsl.compute(
        (n, oc // ocb, oh, ow, ocb),
        lambda b, o, y, x, oo: dsl.sum(
            data_pack[b, rc // icb, y * sh + ry * dh, x * sw + rx * dw, rc % icb]
            * weight_pack[o, rc // icb, ry, rx, rc % icb, oo], axis=[rc, ry, rx]),
        name="conv", tag="conv2d_nchwc")
    bias_t = dsl.placeholder((oc,), dtype=dtype, name="bias") if bias else None
    out_shape = (n, oc // ocb, oh, ow, ocb) if out_blocked else (n, oc, oh, ow)
    res_t = dsl.placeholder(out_shape, dtype=dtype, name="residual") if residual else None
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d_nchwc: activation must be None or 'relu', got {activation!r}")

    def epilogue(v: object, channel: object, at: tuple[object, ...]) -> object:
        if bias_t is not None:
            v = v + bias_t[channel]  # type: ignore[operator,index]
        if res_t is not None:
            v = v + res_t[at]  # type: ignore[operator,index]
        return dsl.max(v, zero) if activation == "relu" else v

    if out_blocked:
        if bias_t is None and res_t is None and activation is None:
            out = conv  # nothing to unpack or add: the blocked conv is the output
        else:
            out = dsl.compute(out_shape, lambda b, o, y, x, oo: epilogue(conv[b, o, y, x, oo], o * ocb + oo,
                                                                           (b, o, y, x, oo)),
                              name="out", tag="conv2d_nchwc_out")
    else:
        out = dsl.compute(out_shape, lambda b, o, y, x: epilogue(conv[b, o // ocb, y, x, o % ocb], o,
                                                                  (b, o, y, x)),
                          name="out", tag="conv2d_nchw")
    return Conv2dNCHWc(data, weight, data_pack, weight_pack, conv, out, bias_t, res_t)


def schedule_register_tile(s: Schedule, conv: Tensor, b: Conv2dBlocking) -> None:
    """The blocked conv's inner loops: a local tile of reg_h rows x reg_n output columns x one oc_bn block,
    accumulated over (ic block, ky, kx, ic_bn) with kx unrolled when asked. The conv's outer loops are
    (n, oc block, row block of reg_h, column block)."""
    cc = s.cache_write(conv, "local")
    n, oc, oh, ow, ocb = s[conv].op.axis
    oho, ohi = s[conv].split(oh, b.reg_h)
    owo, owi = s[conv].split(ow, b.reg_n)
    s[conv].reorder(n, oc, oho, owo, ohi, owi, ocb)
    s[conv].vectorize(ocb)
    s[cc].compute_at(s[conv], owo)
    *_, coh, cow, cocb = s[cc].op.axis
    rc, ry, rx = s[cc].op.reduce_axis
    rco, rci = s[cc].split(rc, b.ic_bn)
    s[cc].reorder(rco, ry, rx, rci, coh, cow, cocb)
    s[cc].vectorize(cocb)
    s[cc].unroll(cow)
    s[cc].unroll(coh)
    if b.unroll_kw:
        s[cc].unroll(rx)


def schedule_conv2d_nchwc(s: Schedule, t: Conv2dNCHWc, blocking: Conv2dBlocking = Conv2dBlocking()) -> None:
    """Register tile of reg_n output columns x oc_bn channels (vectorized), parallel over (n, oc block, oh)."""
    b = blocking
    conv, out = t.conv, t.out
    schedule_register_tile(s, conv, b)
    g = math.gcd(b.oc_group, int(conv.shape[1]))
    if out is conv:  # blocked output without epilogue: the register-tiled conv is the last stage
        cn, co, cy, *_ = s[conv].leaf_iter_vars
        cog, coi = s[conv].split(co, g)
        s[conv].reorder(cn, cog, cy, coi)
        outer = s[conv].fuse(cn, cog, cy, coi)
    elif len(out.shape) == 5:  # blocked output: the epilogue runs on each finished register tile, vectorized
        on, oo, oy, ox, ob = s[out].op.axis
        oyo, oyi = s[out].split(oy, b.reg_h)
        oxo, oxi = s[out].split(ox, b.reg_n)
        oog, ooi = s[out].split(oo, g)
        s[out].reorder(on, oog, oyo, ooi, oxo, oyi, oxi, ob)
        s[out].vectorize(ob)
        outer = s[out].fuse(on, oog, oyo, ooi)
        # per tile, not per row: a row buffer of finished tiles would be promoted to registers once the
        # row's tiles are unrolled (a partitioned tail), and spill the next tile's accumulators
        s[conv].compute_at(s[out], oxo)
    else:  # the output (unpack, bias, activation) is computed from conv right after each of its row blocks
        on, oo, oy, ox = s[out].op.axis
        oog, oor = s[out].split(oo, g * b.oc_bn)
        ooo, ooi = s[out].split(oor, b.oc_bn)
        oyo, oyi = s[out].split(oy, b.reg_h)
        s[out].reorder(on, oog, oyo, ooo, oyi, ooi, ox)
        s[out].vectorize(ox)
        outer = s[out].fuse(on, oog, oyo, ooo)
        s[conv].compute_at(s[out], outer)
    pads = t.data_pack is not t.data  # a stage, unless the data came blocked and needs no padding
    if pads:
        dn, dc, dy, dx, dci = s[t.data_pack].op.axis
        if len(t.data.shape) == 4 and b.ic_bn % 4 == 0:
            # NCHW -> blocked is a transpose of (channel, column) tiles: each vector gathers one column's
            # channels, so 8 columns are unrolled around it and every row of the source is read in 8s
            lanes = math.gcd(vector_lanes(t.data.dtype), b.ic_bn)
            dxo, dxi = s[t.data_pack].split(dx, 8)
            dco, dci = s[t.data_pack].split(dci, lanes)
            s[t.data_pack].reorder(dn, dc, dy, dxo, dco, dxi, dci)
            s[t.data_pack].unroll(dxi)
        s[t.data_pack].vectorize(dci)
    packs_weight = t.weight_pack is not t.weight  # a stage, unless the weight came prepacked
    if packs_weight:
        wo, *_, woo = s[t.weight_pack].op.axis
        s[t.weight_pack].vectorize(woo)
    if b.parallel:
        s[out].parallel(outer)
        if pads:
            s[t.data_pack].parallel(s[t.data_pack].fuse(dn, dc))
        if packs_weight:
            s[t.weight_pack].parallel(wo)
