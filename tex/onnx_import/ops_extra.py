"""Kernels the ONNX importer needs beyond tex.ops: conv2d NCHWc with weights packed at compile time.

`conv2d_nchwc_prepacked` is tex.ops.x86.conv2d's blocked conv whose packed weight
`OIHW[ic_bn]i[oc_bn]o` is a kernel argument (the layout transformation of the weights runs once, at
compile time, in numpy: `pack_conv_weight`) instead of a stage run on every call.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.x86.conv2d import Conv2dBlocking, Conv2dNCHWc, conv2d_nchwc
from tex.schedule import Schedule


def pack_conv_weight(w: np.ndarray, ic_bn: int, oc_bn: int) -> np.ndarray:
    """OIHW -> (O/oc_bn, I/ic_bn, KH, KW, ic_bn, oc_bn)."""
    o, i, kh, kw = w.shape
    return np.ascontiguousarray(w.reshape(o // oc_bn, oc_bn, i // ic_bn, ic_bn, kh, kw).transpose(0, 2, 4, 5, 3, 1))


def conv2d_nchwc_prepacked(shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int],
                           strides: tuple[int, int], padding: tuple[int, int, int, int], dilation: tuple[int, int],
                           blocking: Conv2dBlocking, bias: bool, activation: str | None) -> Conv2dNCHWc:
    """The x86 conv with `weight` = the packed weight placeholder (and `weight_pack` the same tensor)."""
    t = conv2d_nchwc(shape, weight_shape, strides, padding, dilation, blocking, bias, activation)
    oc, c, kh, kw = weight_shape
    wp = dsl.placeholder((oc // blocking.oc_bn, c // blocking.ic_bn, kh, kw, blocking.ic_bn, blocking.oc_bn),
                         name="weight_packed")
    # rebuild conv and out over the packed placeholder (same expressions as tex.ops.x86.conv2d)
    n, _, _h, _w = shape
    icb, ocb = blocking.ic_bn, blocking.oc_bn
    (sh, sw), (dh, dw) = strides, dilation
    oh, ow = int(t.out.shape[2]), int(t.out.shape[3])
    rc, ry, rx = dsl.reduce_axis((0, c), name="rc"), dsl.reduce_axis((0, kh), name="ry"), \
        dsl.reduce_axis((0, kw), name="rx")
    dp = t.data_pack
    conv = dsl.compute(
        (n, oc // ocb, oh, ow, ocb),
        lambda b, o, y, x, oo: dsl.sum(dp[b, rc // icb, y * sh + ry * dh, x * sw + rx * dw, rc % icb]
                                       * wp[o, rc // icb, ry, rx, rc % icb, oo], axis=[rc, ry, rx]),
        name="conv", tag="conv2d_nchwc")
    bias_t = t.bias
    zero = dsl.const(0, "float32")

    def unpack(b: object, o: object, y: object, x: object) -> object:
        v = conv[b, o // ocb, y, x, o % ocb]  # type: ignore[index,operator]
        if bias_t is not None:
            v = v + bias_t[o]
        if activation == "relu":
            v = dsl.max(v, zero)
        return v

    out = dsl.compute((n, oc, oh, ow), unpack, name="out", tag="conv2d_nchw")
    return replace(t, weight=wp, weight_pack=wp, conv=conv, out=out)


def schedule_conv2d_prepacked(s: Schedule, t: Conv2dNCHWc, b: Conv2dBlocking) -> None:
    """tex.ops.x86.conv2d's schedule without the weight-packing stage."""
    conv, out = t.conv, t.out
    cc = s.cache_write(conv, "local")
    n, oc, oh, ow, ocb = s[conv].op.axis
    owo, owi = s[conv].split(ow, b.reg_n)
    s[conv].reorder(n, oc, oh, owo, owi, ocb)
    s[conv].vectorize(ocb)
    s[cc].compute_at(s[conv], owo)
    *_, cow, cocb = s[cc].op.axis
    rc, ry, rx = s[cc].op.reduce_axis
    rco, rci = s[cc].split(rc, b.ic_bn)
    s[cc].reorder(rco, ry, rx, rci, cow, cocb)
    s[cc].vectorize(cocb)
    s[cc].unroll(cow)
    if b.unroll_kw:
        s[cc].unroll(rx)
    on, oo, oy, ox = s[out].op.axis
    ooo, ooi = s[out].split(oo, b.oc_bn)
    s[out].reorder(on, ooo, oy, ooi, ox)
    s[out].vectorize(ox)
    outer = s[out].fuse(on, ooo, oy)
    s[conv].compute_at(s[out], outer)
    dn, dc, *_, dci = s[t.data_pack].op.axis
    s[t.data_pack].vectorize(dci)
    if b.parallel:
        s[out].parallel(outer)
        s[t.data_pack].parallel(s[t.data_pack].fuse(dn, dc))


__all__ = ["Tensor", "conv2d_nchwc_prepacked", "pack_conv_weight", "schedule_conv2d_prepacked"]
