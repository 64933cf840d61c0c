"""2-D pooling in NCHW or packed NCHW[b]c layout (tag "pool").

max:  out[n, c, y, x] = max_{ry, rx} pad(x, -inf)[n, c, y * sh + ry * dh, x * sw + rx * dw]
avg:  out[n, c, y, x] = sum_{ry, rx} pad(x, 0)[...] / count[y, x], count = window cells inside the data
      (count_include_pad=False) or inside data plus declared padding (True); never the ceil_mode overhang.
A 5-D NCHWc input (N, C/b, H, W, b) pools axes 2 and 3 the same way and carries the block axis like a
channel: out[n, c, y, x, cb] reads x[n, c, ..., ..., cb].
"""

from __future__ import annotations

from collections.abc import Callable

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import IterVar, Tensor
from tex.ops._util import as_tensor_check, static_shape
from tex.ops.nn.conv2d import IntPair, out_size, padding4, pair
from tex.ops.nn.pad import maybe_pad
from tex.ops.reduce import reduction

POOL = "pool"


def _geometry(x: Tensor, kernel: IntPair, strides: IntPair | None, padding: IntPair, dilation: IntPair,
              ceil_mode: bool, where: str) -> tuple[tuple[int, ...], tuple[int, int], tuple[int, int],
                                                    tuple[int, int], tuple[int, int, int, int], int, int]:
    _check_rank(x, where)
    shape = static_shape(x, where)
    k = pair(kernel, where, "kernel")
    s = pair(strides if strides is not None else k, where, "strides")
    d = pair(dilation, where, "dilation")
    p = padding4(padding, where)
    oh = out_size(shape[2], k[0], s[0], d[0], p[0], p[2], ceil_mode)
    ow = out_size(shape[3], k[1], s[1], d[1], p[1], p[3], ceil_mode)
    if oh < 1 or ow < 1:
        raise ValueError(f"{where}: output of '{x.name}' would be {oh}x{ow}; check kernel, padding and strides")
    return shape, k, s, d, p, oh, ow


def _padded(x: Tensor, shape: tuple[int, ...], k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
            p: tuple[int, int, int, int], oh: int, ow: int, value: float | int) -> Tensor:
    # ceil_mode windows may hang past the declared padding: pad enough that every window is inside.
    bottom = max(p[2], (oh - 1) * s[0] + (k[0] - 1) * d[0] + 1 - shape[2] - p[0])
    right = max(p[3], (ow - 1) * s[1] + (k[1] - 1) * d[1] + 1 - shape[3] - p[1])
    block = (0,) * (x.ndim - 4)
    return maybe_pad(x, (0, 0, p[0], p[1], *block), (0, 0, bottom, right, *block), value)


def _check_rank(x: Tensor, where: str) -> None:
    as_tensor_check(x, where, "x")
    if x.ndim not in (4, 5):
        raise ValueError(f"{where}: x must be 4-D NCHW or 5-D NCHWc, got '{x.name}' of shape {x.shape}")


def _out_shape(shape: tuple[int, ...], oh: int, ow: int) -> tuple[int, ...]:
    return (shape[0], shape[1], oh, ow, *shape[4:])


def _pool_compute(shape: tuple[int, ...], body: Callable[[tuple[Expr, ...]], Expr], name: str) -> Tensor:
    """dsl.compute over (n, c, y, x[, cb]) with those axis names (a lambda's parameters name the loops)."""
    if len(shape) == 4:
        return dsl.compute(shape, lambda nb, ch, oh, ow: body((nb, ch, oh, ow)), name=name, tag=POOL)
    return dsl.compute(shape, lambda nb, ch, oh, ow, cb: body((nb, ch, oh, ow, cb)), name=name, tag=POOL)


def _window(xp: Tensor, idx: tuple[Expr, ...], s: tuple[int, int], d: tuple[int, int], ry: IterVar,
            rx: IterVar) -> Expr:
    """xp at window tap (ry, rx) of output index idx = (n, c, y, x[, cb])."""
    return xp[(idx[0], idx[1], idx[2] * s[0] + ry.var * d[0], idx[3] * s[1] + rx.var * d[1], *idx[4:])]


def max_pool2d(x: Tensor, kernel: IntPair, strides: IntPair | None = None, padding: IntPair = (0, 0, 0, 0),
               dilation: IntPair = (1, 1), ceil_mode: bool = False) -> Tensor:
    """Max pooling; strides default to the kernel size; padding (top, left, bottom, right)."""
    shape, k, s, d, p, oh, ow = _geometry(x, kernel, strides, padding, dilation, ceil_mode, "max_pool2d")
    lowest = float("-inf") if dtypes.is_float(x.dtype) else dtypes.min_value(x.dtype)
    xp = _padded(x, shape, k, s, d, p, oh, ow, lowest)
    ry = dsl.reduce_axis((0, k[0]), name="ry")
    rx = dsl.reduce_axis((0, k[1]), name="rx")
    return _pool_compute(_out_shape(shape, oh, ow), lambda i: dsl.max(_window(xp, i, s, d, ry, rx), axis=[ry, rx]),
                         "max_pool2d")


def _count(o: Expr, stride: int, dil: int, k: int, lo: int, hi: int) -> Expr:
    """How many of the k window taps start + r * dil (r < k) fall in [lo, hi), start = o * stride."""
    start = o * stride
    first = dsl.max((lo - start + dil - 1) // dil, E.const(0, dtypes.INDEX))  # ceil((lo - start) / dil)
    last = dsl.min((hi - 1 - start) // dil, E.const(k - 1, dtypes.INDEX))
    return dsl.max(last - first + 1, E.const(0, dtypes.INDEX))


def avg_pool2d(x: Tensor, kernel: IntPair, strides: IntPair | None = None, padding: IntPair = (0, 0, 0, 0),
               dilation: IntPair = (1, 1), ceil_mode: bool = False, count_include_pad: bool = False) -> Tensor:
    """Average pooling; the divisor counts data cells (plus declared padding with count_include_pad)."""
    shape, k, s, d, p, oh, ow = _geometry(x, kernel, strides, padding, dilation, ceil_mode, "avg_pool2d")
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"avg_pool2d: x must be a float tensor, got {x.dtype} tensor '{x.name}'")
    xp = _padded(x, shape, k, s, d, p, oh, ow, 0)
    ry = dsl.reduce_axis((0, k[0]), name="ry")
    rx = dsl.reduce_axis((0, k[1]), name="rx")
    h, w = shape[2], shape[3]
    lo_h, hi_h = (0, h + p[0] + p[2]) if count_include_pad else (p[0], h + p[0])
    lo_w, hi_w = (0, w + p[1] + p[3]) if count_include_pad else (p[1], w + p[1])

    def f(i: tuple[Expr, ...]) -> Expr:
        cnt = _count(i[2], s[0], d[0], k[0], lo_h, hi_h) * _count(i[3], s[1], d[1], k[1], lo_w, hi_w)
        inv = E.const(1.0, x.dtype) / E.cast(dsl.max(cnt, E.const(1, dtypes.INDEX)), x.dtype)
        return dsl.sum(_window(xp, i, s, d, ry, rx) * inv, axis=[ry, rx])

    return _pool_compute(_out_shape(shape, oh, ow), f, "avg_pool2d")


def _global_blocked(x: Tensor, combiner: str, name: str, acc: str) -> Tensor:
    """out[n, c, 0, 0, cb] = combine_{ry, rx} x[n, c, ry, rx, cb] as a "pool" stage, so the default schedule
    keeps the block axis innermost and vectorized (a plain reduce stage would reduce innermost, strided)."""
    shape = static_shape(x, name)
    ry = dsl.reduce_axis((0, shape[2]), name="ry")
    rx = dsl.reduce_axis((0, shape[3]), name="rx")
    fold = dsl.sum if combiner == "sum" else dsl.max
    return _pool_compute((shape[0], shape[1], 1, 1, shape[4]),
                         lambda i: fold(E.cast(x[i[0], i[1], ry.var, rx.var, i[4]], acc), axis=[ry, rx]), name)


def global_avg_pool2d(x: Tensor) -> Tensor:
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1); NCHWc (N, C/b, H, W, b) -> (N, C/b, 1, 1, b)."""
    _check_rank(x, "global_avg_pool2d")
    shape = static_shape(x, "global_avg_pool2d")
    acc = "float32" if x.dtype == "float16" else x.dtype
    if x.ndim == 5:
        total = _global_blocked(x, "sum", "global_avg_pool2d_sum", acc)
    else:
        total = reduction(x, (2, 3), True, "sum", "global_avg_pool2d_sum", acc)
    inv = 1.0 / (shape[2] * shape[3])
    return dsl.compute(total.shape, lambda *i: E.cast(total[i] * E.const(inv, acc), x.dtype),
                       name="global_avg_pool2d", tag="elemwise")


def global_max_pool2d(x: Tensor) -> Tensor:
    """Max over H and W: (N, C, H, W) -> (N, C, 1, 1); NCHWc (N, C/b, H, W, b) -> (N, C/b, 1, 1, b)."""
    _check_rank(x, "global_max_pool2d")
    if x.ndim == 5:
        return _global_blocked(x, "max", "global_max_pool2d", x.dtype)
    return reduction(x, (2, 3), True, "max", "global_max_pool2d")
