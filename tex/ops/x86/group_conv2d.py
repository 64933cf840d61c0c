"""Grouped conv2d (1 < groups < channels) for x86 CPUs in the blocked NCHW[x]c layout of conv2d.py.

With G groups of Cg = C/G input and Og = O/G output channels, output channel o reads only the input
channels of its group o // Og. Input blocks never straddle a group (ic_bn | Cg). Output channels are
computed in a padded space of Op = ceil(Og/oc_bn)*oc_bn channels per group (zero weights in the padding),
so that a block of oc_bn output channels stays a full SIMD vector when Og has no good divisor
(ShuffleNet: Og = 34, 68). Output block ob belongs to group g = ob // (Op/oc_bn):

    conv[n, ob, y, x, oo] = sum_{rc < Cg, ry, rx} data_pack[n, g*(Cg/ic_bn) + rc//ic_bn, y*s + ry*d, x*s + rx*d,
                                                            rc % ic_bn]
                                                  * weight_pack[ob, rc//ic_bn, ry, rx, rc % ic_bn, oo]
    out[n, o, y, x] = act(conv[n, p // oc_bn, y, x, p % oc_bn] + bias[o] + residual[n, o, y, x]),
                      p = (o // Og)*Op + o % Og

The tensors are a conv2d.Conv2dNCHWc; with ic_bn = 1 and no padding `data_pack` is the NCHW input itself
(a 1x1 conv reads it in place: no repacking pass). The schedule is conv2d_nchwc's register tile; when the
groups are padded the blocked conv is computed a whole output row at a time, so the unpacking (which
reads blocks in padded order) never needs a block twice. One group is a plain conv whose output channels no
whole vector divides (`padded_conv`: SqueezeNet's 1000 classes), padded the same way.

A grouped 1x1, stride-1, unpadded conv needs none of this: `group_pointwise_gemm` computes it as one GEMM per
group over the pixels of the NCHW buffers as they are (no repacking, no padding of the groups).
"""

from __future__ import annotations

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.nn.conv2d import conv_output_hw
from tex.ops.x86.conv2d import (
    Conv2dBlocking,
    Conv2dNCHWc,
    pack_conv_weight,
    schedule_register_tile,
    unpack_conv_weight,
)
from tex.ops.x86.isa import vector_lanes
from tex.schedule import Schedule


def padded_group(channels_per_group: int, oc_bn: int) -> int:
    """Op: a group's output channels rounded up to whole oc_bn blocks."""
    return -(-channels_per_group // oc_bn) * oc_bn


def default_group_blocking(in_channels: int, out_channels: int, groups: int, out_width: int) -> Conv2dBlocking:
    """Measured on ShuffleNet's 1x1 and ResNeXt-like 3x3 layers: oc_bn 8 lanes (4 for tiny groups; beats 16
    lanes and unpadded 2- or 4-lane blocks), ic_bn 1 (a 1x1 conv then reads NCHW in place), and a register
    tile of up to 16 columns dividing ow (enough independent accumulators for two FMA pipes).

    One group is a plain conv whose output channels no whole vector divides (see padded_conv): blocks of
    two vectors, padded, in a tile of up to 28 accumulators on AVX-512 (12 on AVX2), the whole row if it fits."""
    og = out_channels // groups
    if groups == 1:
        v = vector_lanes("float32")
        vectors = 2 if out_channels >= 2 * v else 1
        most = (28 if v == 16 else 12) // vectors
        reg_n = out_width if out_width <= most else next((r for r in (14, 12, 8, 7, 6, 4) if r <= most and
                                                          out_width % r == 0), min(8, most))
        return Conv2dBlocking(ic_bn=1, oc_bn=vectors * v, reg_n=reg_n)
    reg_n = next((r for r in (14, 16, 8, 7, 12, 6, 4) if out_width % r == 0), 8)
    return Conv2dBlocking(ic_bn=1, oc_bn=8 if og > 4 else 4, reg_n=reg_n)


def padded_conv(out_channels: int, groups: int = 1) -> bool:
    """Whether a conv of `groups` groups runs as group_conv2d_nchwc with its outputs padded to whole blocks,
    though it is not grouped: where no whole vector of the host divides many output channels (SqueezeNet's
    1000-class conv on AVX-512 would otherwise take half-vector blocks of 8: 0.42x onnxruntime's speed,
    padded to 1024 0.92-0.98x). Few channels stay with conv2d_nchw and the model's blocked layout."""
    v = vector_lanes("float32")
    return groups == 1 and out_channels % v != 0 and out_channels >= 4 * v


def pack_group_conv_weight(w: np.ndarray, groups: int, ic_bn: int, oc_bn: int) -> np.ndarray:
    """(O, C/groups, KH, KW) -> pack_conv_weight of the weight with each group's outputs zero-padded to Op."""
    o, cg, kh, kw = w.shape
    og = o // groups
    op = padded_group(og, oc_bn)
    wp = np.zeros((groups, op, cg, kh, kw), dtype=w.dtype)
    wp[:, :og] = w.reshape(groups, og, cg, kh, kw)
    return pack_conv_weight(wp.reshape(groups * op, cg, kh, kw), ic_bn, oc_bn)


def unpack_group_conv_weight(wp: np.ndarray, groups: int, out_channels: int) -> np.ndarray:
    """The inverse of pack_group_conv_weight: the (O, C/groups, KH, KW) weight without the padding."""
    w = unpack_conv_weight(wp)
    og = out_channels // groups
    return np.ascontiguousarray(w.reshape(groups, -1, *w.shape[1:])[:, :og].reshape(out_channels, *w.shape[1:]))


def group_conv2d_nchwc(
    shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int], groups: int,
    blocking: Conv2dBlocking, strides: tuple[int, int] = (1, 1), padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1), bias: bool = False,
    activation: str | None = None, dtype: str = "float32", prepacked_weight: bool = False, residual: bool = False,
) -> Conv2dNCHWc:
    """A grouped conv2d: NCHW data, (O, C/groups, KH, KW) weight; ic_bn must divide C/groups, oc_bn is any
    block (a group's outputs are padded to whole blocks; see default_group_blocking).

    The other arguments are conv2d_nchwc's: padding is (top, left, bottom, right); with `prepacked_weight`
    the weight argument is `pack_group_conv_weight(w, groups, ic_bn, oc_bn)`; `residual` adds an NCHW tensor
    of the output's shape before the activation (None or "relu").
    """
    n, c, h, w = shape
    oc, cg, kh, kw = weight_shape
    if not isinstance(groups, int) or groups < 1 or c % groups or oc % groups:
        raise ValueError(f"group_conv2d_nchwc: groups must be a positive int dividing {c} input and {oc} output "
                         f"channels, got {groups!r}")
    if cg * groups != c:
        raise ValueError(f"group_conv2d_nchwc: weight must have C/groups = {c // groups} input channels, got {cg}")
    og = oc // groups
    icb, ocb = blocking.ic_bn, blocking.oc_bn
    if icb < 1 or ocb < 1 or cg % icb:
        raise ValueError(f"group_conv2d_nchwc: ic_bn={icb} must divide the {cg} input channels of a group and "
                         f"oc_bn={ocb} must be positive")
    if activation not in (None, "relu"):
        raise ValueError(f"group_conv2d_nchwc: activation must be None or 'relu', got {activation!r}")
    (sh, sw), (dh, dw) = strides, dilation
    pt, pl, pb, pr = padding
    oh, ow = conv_output_hw(shape, weight_shape, strides, padding, dilation)
    if oh < 1 or ow < 1:
        raise ValueError(f"group_conv2d_nchwc: output would be {oh}x{ow}; check kernel size, padding and stride")

    data = dsl.placeholder(shape, dtype=dtype, name="data")
    weight = dsl.placeholder(weight_shape, dtype=dtype, name="weight")
    zero = dsl.const(0, dtype)

    def pad_pack(b: object, co: object, y: object, x: object, ci: object) -> object:
        yy, xx = y - pt, x - pl  # type: ignore[operator]
        inside = dsl.all(yy >= 0, yy < h, xx >= 0, xx < w)  # type: ignore[operator]
        return dsl.if_then_else(inside, data[b, co * icb + ci, yy, xx], zero)  # type: ignore[index,operator]

    # With ic_bn = 1 and no padding, NCHW already is the (n, C, H, W, 1) layout: the conv reads it in place.
    in_place = icb == 1 and not any(padding)
    data_pack = data if in_place else dsl.compute((n, c // icb, h + pt + pb, w + pl + pr, icb), pad_pack,
                                                  name="data_pack", tag="layout")

    def conv_in(b: object, blk: object, ci: object, y: object, x: object) -> object:
        """Input channel blk*ic_bn + ci at padded position (y, x)."""
        return data[b, blk, y, x] if in_place else data_pack[b, blk, y, x, ci]  # type: ignore[index]

    op = padded_group(og, ocb)
    in_blocks, out_blocks = cg // icb, op // ocb  # per group
    packed_shape = (groups * out_blocks, in_blocks, kh, kw, icb, ocb)
    if prepacked_weight:
        weight = weight_pack = dsl.placeholder(packed_shape, dtype=dtype, name="weight_packed")
    else:
        def wpack(o: object, i: object, y: object, x: object, ii: object, oo: object) -> object:
            p = o * ocb + oo  # type: ignore[operator]
            g, j = p // op, p % op
            return dsl.if_then_else(j < og, weight[g * og + j, i * icb + ii, y, x], zero)  # type: ignore[index,operator]

        weight_pack = dsl.compute(packed_shape, wpack, name="weight_pack", tag="layout")
    rc = dsl.reduce_axis((0, cg), name="rc")
    ry = dsl.reduce_axis((0, kh), name="ry")
    rx = dsl.reduce_axis((0, kw), name="rx")
    conv = dsl.compute(
        (n, groups * out_blocks, oh, ow, ocb),
        lambda b, o, y, x, oo: dsl.sum(
            conv_in(b, o // out_blocks * in_blocks + rc // icb, rc % icb, y * sh + ry * dh, x * sw + rx * dw)
            * weight_pack[o, rc // icb, ry, rx, rc % icb, oo], axis=[rc, ry, rx]),
        name="conv", tag="group_conv2d_nchwc")
    bias_t = dsl.placeholder((oc,), dtype=dtype, name="bias") if bias else None
    res_t = dsl.placeholder((n, oc, oh, ow), dtype=dtype, name="residual") if residual else None

    def unpack(b: object, o: object, y: object, x: object) -> object:
        p = o if op == og else o // og * op + o % og  # type: ignore[operator]
        v = conv[b, p // ocb, y, x, p % ocb]  # type: ignore[index,operator]
        if bias_t is not None:
            v = v + bias_t[o]
        if res_t is not None:
            v = v + res_t[b, o, y, x]
        return dsl.max(v, zero) if activation == "relu" else v

    out = dsl.compute((n, oc, oh, ow), unpack, name="out", tag="group_conv2d_nchw")
    return Conv2dNCHWc(data, weight, data_pack, weight_pack, conv, out, bias_t, res_t)


def schedule_group_conv2d_nchwc(s: Schedule, t: Conv2dNCHWc, blocking: Conv2dBlocking) -> None:
    """conv2d_nchwc's register tile (reg_n columns x one oc_bn vector, kw unrolled). The blocked conv is
    computed per (n, oc block, output row) of the output when oc_bn divides a group's outputs, else per
    output row (all blocks: the unpacking reads them in padded order); those run in parallel."""
    b = blocking
    conv, out = t.conv, t.out
    schedule_register_tile(s, conv, b)
    on, oo, oy, ox = s[out].op.axis
    if conv.shape[1] * b.oc_bn == out.shape[1]:
        ooo, ooi = s[out].split(oo, b.oc_bn)
        s[out].reorder(on, ooo, oy, ooi, ox)
        outer = s[out].fuse(on, ooo, oy)
    else:
        s[out].reorder(on, oy, oo, ox)
        outer = s[out].fuse(on, oy)
    s[out].vectorize(ox)
    s[conv].compute_at(s[out], outer)
    if b.parallel:
        s[out].parallel(outer)
    if t.data_pack is not t.data:
        dn, dc, *_, dci = s[t.data_pack].op.axis
        s[t.data_pack].vectorize(dci)
        if b.parallel:
            s[t.data_pack].parallel(s[t.data_pack].fuse(dn, dc))
    if t.weight_pack is not t.weight:
        wo, *_, woo = s[t.weight_pack].op.axis
        s[t.weight_pack].vectorize(woo)
        if b.parallel:
            s[t.weight_pack].parallel(wo)


def default_pointwise_tile(pixels: int, lanes: int) -> tuple[int, int]:
    """group_pointwise_gemm's register tile (rows, pixels): two vectors of pixels by 6 rows, one vector by 8
    on planes under four vectors (ShuffleNet's 7x7: a second vector would be mostly tail). Measured on
    ShuffleNet's layers, one thread: 1.1-2.1x onnxruntime's speed, 2.0-4.9x the padded blocked kernel."""
    return (6, 2 * lanes) if pixels >= 4 * lanes else (8, lanes)


def group_pointwise_gemm(shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int], groups: int,
                         tile_m: int, bias: bool = False, activation: str | None = None, dtype: str = "float32",
                         residual: bool = False) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor, Tensor]:
    """A grouped 1x1, stride-1, unpadded conv as one GEMM per group over the pixels, in NCHW as it is:
    out[n, g, i, p] = act(sum_k W[g*Og + i, k] * x[n, g*Cg + k, p] + bias + residual), p = y*W + x.

    The data is (N, C, H*W), the weight (O, Cg) and the output (and residual) (N, groups, Og, H*W): the same
    bytes as NCHW and OIHW, so no repacking, and no padding of odd group widths (ShuffleNet's 34 or 68
    outputs per group): rows are the output channels (a group's rows rounded up to `tile_m` re-read the last
    one and are never stored), columns the pixels, vectorized. Returns (data, weight, bias, residual, acc, out).
    """
    n, c, h, w = shape
    oc, cg = weight_shape[0], weight_shape[1]
    if tuple(weight_shape[2:]) != (1, 1) or groups < 1 or c != cg * groups or oc % groups:
        raise ValueError(f"group_pointwise_gemm: a 1x1 weight of C/groups = {c // max(groups, 1)} inputs and "
                         f"outputs divisible by {groups} groups is needed, got {tuple(weight_shape)}")
    if activation not in (None, "relu"):
        raise ValueError(f"group_pointwise_gemm: activation must be None or 'relu', got {activation!r}")
    og, pixels = oc // groups, h * w
    mp = -(-og // tile_m) * tile_m
    data = dsl.placeholder((n, c, pixels), dtype=dtype, name="data")
    weight = dsl.placeholder((oc, cg), dtype=dtype, name="weight")
    k = dsl.reduce_axis((0, cg), name="k")

    def row(i: object) -> object:
        return i if mp == og else dsl.min(i, og - 1)  # type: ignore[arg-type]

    acc = dsl.compute((n, groups, mp, pixels),
                      lambda b, g, i, p: dsl.sum(weight[g * og + row(i), k] * data[b, g * cg + k, p], axis=k),  # type: ignore[operator,index]
                      name="acc", tag="group_pointwise_gemm")
    zero = dsl.const(0, dtype)
    bias_t = dsl.placeholder((oc,), dtype=dtype, name="bias") if bias else None
    res_t = dsl.placeholder((n, groups, og, pixels), dtype=dtype, name="residual") if residual else None

    def epilogue(b: object, g: object, i: object, p: object) -> object:
        v = acc[b, g, i, p]
        if bias_t is not None:
            v = v + bias_t[g * og + i]  # type: ignore[operator,index]
        if res_t is not None:
            v = v + res_t[b, g, i, p]  # type: ignore[operator,index]
        return dsl.max(v, zero) if activation == "relu" else v

    out = dsl.compute((n, groups, og, pixels), epilogue, name="out", tag="group_conv2d_pointwise")
    return data, weight, bias_t, res_t, acc, out


def schedule_group_pointwise_gemm(s: Schedule, acc: Tensor, out: Tensor, tile_m: int, tile_n: int, unroll_k: int,
                                  parallel: bool = True) -> None:
    """Register tiles of tile_m rows x tile_n pixels accumulated over a group's inputs; (n, group, row block)
    fused and parallel; pixel tiles that do not divide the plane leave a tail lowering partitions off."""
    from tex.ops.x86.matmul import schedule_gemm_tile

    b, g, i, p = s[out].op.axis
    io, po, _, pi = s[out].tile(i, p, tile_m, tile_n)
    outer = s[out].fuse(b, g, io)
    s[out].vectorize(pi)
    s[acc].set_scope("local")
    s[acc].compute_at(s[out], po)
    lanes = vector_lanes(out.dtype)
    schedule_gemm_tile(s, acc, tile_n, unroll_k, lanes if int(out.shape[3]) % tile_n == 0 else 0)
    if parallel:
        s[out].parallel(outer)
