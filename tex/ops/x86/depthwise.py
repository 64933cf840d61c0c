"""Depthwise conv2d (NCHW, one filter per channel, channel multiplier m) for x86 CPUs.

`out[n, c*m + q, y, x] = sum_{ry, rx} pad(data)[n, c, y*s + ry*d, x*s + rx*d] * weight[c*m + q, 0, ry, rx]`.
Each (n, output channel) plane is independent: the planes run in parallel, the padded input plane is
built right before its plane is computed (so it stays in L1/L2), and output rows are vectorized along x
with the kernel window unrolled. With a row stride s > 1 the padded plane is stored as its s phases
(columns p, p + s, ...), so every tap of a strided output row is a contiguous vector.
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.nn.conv2d import conv_output_hw
from tex.schedule import Schedule


@dataclass(frozen=True)
class DepthwiseBlocking:
    vector_x: int = 16  # the vectorized chunk of an output row
    unroll_window: bool = True
    parallel: bool = True


@dataclass(frozen=True)
class Depthwise:
    data: Tensor
    weight: Tensor
    padded: Tensor
    conv: Tensor
    out: Tensor  # conv itself without an epilogue
    bias: Tensor | None = None


def depthwise_conv2d_nchw(
    shape: tuple[int, int, int, int], weight_shape: tuple[int, int, int, int],
    strides: tuple[int, int] = (1, 1), padding: tuple[int, int, int, int] = (0, 0, 0, 0),
    dilation: tuple[int, int] = (1, 1), bias: bool = False, activation: str | None = None, dtype: str = "float32",
) -> Depthwise:
    """Data NCHW, weight (C * m, 1, KH, KW); padding (top, left, bottom, right); activation None | "relu"."""
    n, c, h, w = shape
    ocm, one, kh, kw = weight_shape
    if one != 1 or ocm % c:
        raise ValueError(f"depthwise_conv2d_nchw: weight must be (C * multiplier, 1, KH, KW) for C={c}, "
                         f"got {weight_shape}")
    if activation not in (None, "relu"):
        raise ValueError(f"depthwise_conv2d_nchw: activation must be None or 'relu', got {activation!r}")
    mult = ocm // c
    (sh, sw), (dh, dw) = strides, dilation
    pt, pl, pb, pr = padding
    oh, ow = conv_output_hw(shape, weight_shape, strides, padding, dilation)
    if oh < 1 or ow < 1:
        raise ValueError(f"depthwise_conv2d_nchw: output would be {oh}x{ow}; check kernel size, padding and stride")
    data = dsl.placeholder(shape, dtype=dtype, name="data")
    weight = dsl.placeholder(weight_shape, dtype=dtype, name="weight")
    zero = dsl.const(0, dtype)

    def pad(b: object, ch: object, y: object, x: object) -> object:
        yy, xx = y - pt, x - pl  # type: ignore[operator]
        inside = dsl.all(yy >= 0, yy < h, xx >= 0, xx < w)  # type: ignore[operator]
        return dsl.if_then_else(inside, data[b, ch, yy, xx], zero)  # type: ignore[index]

    hp, wp = h + pt + pb, w + pl + pr
    ry = dsl.reduce_axis((0, kh), name="ry")
    rx = dsl.reduce_axis((0, kw), name="rx")
    if sw == 1:
        padded = dsl.compute((n, c, hp, wp), pad, name="padded", tag="pad")

        def window(b: object, o: object, y: object, x: object) -> object:
            return padded[b, o // mult, y * sh + ry * dh, x + rx * dw]  # type: ignore[index,operator]
    else:
        # a strided row is split into its sw phases (padded[.., p, y, q] = row[q * sw + p]) as the plane is
        # padded, so that output column x reads phase (rx * dw) % sw at x + (rx * dw) // sw: contiguous
        # vectors instead of a strided gather for every tap (stride 2 ran at a quarter of onnxruntime's speed)
        padded = dsl.compute((n, c, sw, hp, -(-wp // sw)),
                             lambda b, ch, ph, y, q: pad(b, ch, y, q * sw + ph), name="padded", tag="pad")

        def window(b: object, o: object, y: object, x: object) -> object:
            return padded[b, o // mult, (rx * dw) % sw, y * sh + ry * dh, x + (rx * dw) // sw]  # type: ignore[index,operator]
    conv = dsl.compute(
        (n, ocm, oh, ow),
        lambda b, o, y, x: dsl.sum(window(b, o, y, x) * weight[o, 0, ry, rx], axis=[ry, rx]),
        name="dwconv", tag="depthwise_conv2d_nchw")
    bias_t = dsl.placeholder((ocm,), dtype=dtype, name="bias") if bias else None
    if bias_t is None and activation is None:
        return Depthwise(data, weight, padded, conv, conv)

    def epilogue(b: object, o: object, y: object, x: object) -> object:
        v = conv[b, o, y, x]  # type: ignore[index]
        if bias_t is not None:
            v = v + bias_t[o]  # type: ignore[index]
        return dsl.max(v, zero) if activation == "relu" else v

    out = dsl.compute((n, ocm, oh, ow), epilogue, name="out", tag="depthwise_conv2d_nchw")
    return Depthwise(data, weight, padded, conv, out, bias_t)


def schedule_depthwise(s: Schedule, d: Depthwise, blocking: DepthwiseBlocking = DepthwiseBlocking()) -> None:
    """Planes in parallel; per plane: pad the input plane, then vectorized rows with the window unrolled."""
    b = blocking
    out = d.out
    n, o, y, x = s[out].op.axis
    plane = s[out].fuse(n, o)
    xo, xi = s[out].split(x, b.vector_x)
    s[out].vectorize(xi)
    conv = d.conv
    if conv is not out:  # bias/activation epilogue: the convolution is computed row by row inside it
        s[conv].compute_at(s[out], y)
        cn, co, cy, cx = s[conv].op.axis
        cxo, cxi = s[conv].split(cx, b.vector_x)
        s[conv].vectorize(cxi)
        ry, rx = s[conv].op.reduce_axis
        s[conv].reorder(cn, co, cy, ry, rx, cxo, cxi)
        if b.unroll_window:
            s[conv].unroll(ry)
            s[conv].unroll(rx)
    if conv is out:
        ry, rx = s[out].op.reduce_axis
        s[out].reorder(plane, y, ry, rx, xo, xi)
        if b.unroll_window:
            s[out].unroll(ry)
            s[out].unroll(rx)
    s[d.padded].compute_at(s[out], plane)
    # a phase-split plane (row stride > 1, one axis more) stays scalar: vectorized, each vector is a strided
    # gather with a per-lane padding select, 3.5x slower than the scalar loop on ShuffleNet-sized planes
    if len(d.padded.shape) == 4:
        s[d.padded].vectorize(s[d.padded].op.axis[-1])
    if b.parallel:
        s[out].parallel(plane)
