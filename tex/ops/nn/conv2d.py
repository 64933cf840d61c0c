"""2-D convolution in NCHW layout, grouped and depthwise (tags "conv2d_nchw", "depthwise_conv2d_nchw").

out[n, o, y, x] = sum_{c, ry, rx} pad(data)[n, g * Cg + c, y * sh + ry * dh, x * sw + rx * dw] * w[o, c, ry, rx]
with g = o // (O / groups), Cg = C / groups; the padding is its own "pad" stage (inline it or compute it at).
OH = (H + top + bottom - (KH - 1) * dh - 1) // sh + 1, likewise OW.
"""

from __future__ import annotations

from collections.abc import Sequence

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import as_tensor_check, static_shape
from tex.ops.nn.pad import maybe_pad

IntPair = int | Sequence[int]


def pair(v: IntPair, where: str, arg: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(int(a) for a in v)
    if len(t) != 2 or any(a < 1 for a in t):
        raise ValueError(f"{where}: {arg} must be a positive int or a pair of them, got {v!r}")
    return t  # type: ignore[return-value]


def padding4(p: IntPair, where: str) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) from an int, a pair (pad_h, pad_w) or a quadruple."""
    if isinstance(p, int):
        t = (p, p, p, p)
    else:
        t = tuple(int(a) for a in p)
        if len(t) == 2:
            t = (t[0], t[1], t[0], t[1])
    if len(t) != 4 or any(a < 0 for a in t):
        raise ValueError(f"{where}: padding must be an int, (pad_h, pad_w) or (top, left, bottom, right) of "
                         f"non-negative ints, got {p!r}")
    return t  # type: ignore[return-value]


def conv_output_hw(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int]) -> tuple[int, int]:
    """(oh, ow) of an NCHW x OIHW convolution; padding is (top, left, bottom, right)."""
    return (out_size(shape[2], wshape[2], strides[0], dilation[0], padding[0], padding[2]),
            out_size(shape[3], wshape[3], strides[1], dilation[1], padding[1], padding[3]))


def out_size(n: int, k: int, stride: int, dil: int, lo: int, hi: int, ceil_mode: bool = False) -> int:
    span = n + lo + hi - (k - 1) * dil - 1
    if ceil_mode:
        o = -(-span // stride) + 1
        if (o - 1) * stride >= n + lo:  # the last window must start inside the data or the leading pad
            o -= 1
        return o
    return span // stride + 1


def conv2d_nchw(data: Tensor, kernel: Tensor, strides: IntPair = (1, 1), padding: IntPair = (0, 0, 0, 0),
                dilation: IntPair = (1, 1), groups: int = 1, out_dtype: str | None = None,
                tag: str = "conv2d_nchw") -> Tensor:
    """Grouped 2-D convolution: data (N, C, H, W), kernel (O, C / groups, KH, KW) -> (N, O, OH, OW).

    `out_dtype` is the accumulation and output dtype (int8 x int8 -> "int32"); default data's dtype.
    """
    where = "conv2d_nchw" if tag == "conv2d_nchw" else tag
    as_tensor_check(data, where, "data")
    as_tensor_check(kernel, where, "kernel")
    if data.ndim != 4 or kernel.ndim != 4:
        raise ValueError(f"{where}: data and kernel must be 4-D (NCHW, OIHW), got '{data.name}' {data.shape} and "
                         f"'{kernel.name}' {kernel.shape}")
    n, c, h, w = static_shape(data, where)
    o, cg, kh, kw = static_shape(kernel, where)
    if groups < 1 or c % groups or o % groups or cg != c // groups:
        raise ValueError(f"{where}: with groups={groups}, data channels {c} need kernel '{kernel.name}' of shape "
                         f"(O, {c // max(groups, 1)}, KH, KW) with O divisible by {groups}, got {(o, cg, kh, kw)}")
    sh, sw = pair(strides, where, "strides")
    dh, dw = pair(dilation, where, "dilation")
    pt, pl, pb, pr = padding4(padding, where)
    oh, ow = out_size(h, kh, sh, dh, pt, pb), out_size(w, kw, sw, dw, pl, pr)
    if oh < 1 or ow < 1:
        raise ValueError(f"{where}: output of '{data.name}' would be {oh}x{ow}; check kernel size, padding, stride")
    dt = dtypes.check(out_dtype, f"{where}: out_dtype") if out_dtype else data.dtype
    padded = maybe_pad(data, (0, 0, pt, pl), (0, 0, pb, pr), 0)
    rc = dsl.reduce_axis((0, cg), name="rc")
    ry = dsl.reduce_axis((0, kh), name="ry")
    rx = dsl.reduce_axis((0, kw), name="rx")
    opg = o // groups

    def f(nb: Expr, oc: Expr, oh: Expr, ow: Expr) -> Expr:
        ch = rc.var if groups == 1 else (oc // opg) * cg + rc.var
        a = E.cast(padded[nb, ch, oh * sh + ry.var * dh, ow * sw + rx.var * dw], dt)
        return dsl.sum(a * E.cast(kernel[oc, rc.var, ry.var, rx.var], dt), axis=[rc, ry, rx])

    return dsl.compute((n, o, oh, ow), f, name=tag, tag=tag)


def depthwise_conv2d_nchw(data: Tensor, kernel: Tensor, strides: IntPair = (1, 1),
                          padding: IntPair = (0, 0, 0, 0), dilation: IntPair = (1, 1), groups: int | None = None,
                          out_dtype: str | None = None) -> Tensor:
    """Depthwise convolution: data (N, C, H, W), kernel (C * m, 1, KH, KW) -> (N, C * m, OH, OW).

    The same as conv2d_nchw with groups = C (ONNX's layout); `groups`, when given, must equal C.
    """
    as_tensor_check(data, "depthwise_conv2d_nchw", "data")
    c = static_shape(data, "depthwise_conv2d_nchw")[1] if data.ndim == 4 else 0
    if groups is not None and groups != c:
        raise ValueError(f"depthwise_conv2d_nchw: groups must equal the channels of '{data.name}' ({c}), "
                         f"got {groups}")
    return conv2d_nchw(data, kernel, strides, padding, dilation, c, out_dtype, tag="depthwise_conv2d_nchw")
