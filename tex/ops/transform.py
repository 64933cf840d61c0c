"""Index-remapping operators (tag "injective"): each output element is one input element, moved.

transpose, reshape, flatten, expand_dims, squeeze, broadcast_to, concatenate, split, strided_slice, take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import (
    as_tensor_check,
    broadcast_index,
    broadcast_shape,
    normalize_axes,
    normalize_axis,
    static_shape,
)

INJECTIVE = "injective"


def transpose(x: Tensor, perm: Sequence[int] | None = None) -> Tensor:
    """out[i_0, ..., i_n] = x[j...] with j[perm[d]] = i_d; perm None reverses the axes (numpy's .T)."""
    as_tensor_check(x, "transpose", "x")
    n = x.ndim
    if perm is None:
        perm = tuple(reversed(range(n)))
    perm = tuple(perm)
    if sorted(a % n if n else a for a in perm) != list(range(n)) or len(perm) != n:
        raise ValueError(f"transpose: perm must be a permutation of 0..{n - 1} for tensor '{x.name}', got {perm}")
    perm = tuple(a % n for a in perm)
    shape = tuple(x.shape[p] for p in perm)

    def f(*i: Expr) -> Expr:
        j: list[Expr] = [E.const(0, dtypes.INDEX)] * n
        for d, p in enumerate(perm):
            j[p] = i[d]
        return x[tuple(j)]

    return dsl.compute(shape, f, name="transpose", tag=INJECTIVE)


def _unravel(flat: Expr, shape: Sequence[int]) -> tuple[Expr, ...]:
    out: list[Expr] = []
    for d in reversed(shape):
        out.append(flat % d if d != 1 else E.const(0, dtypes.INDEX))
        flat = flat // d
    return tuple(reversed(out))


def _ravel(index: Sequence[Expr], shape: Sequence[int]) -> Expr:
    flat: Expr = E.const(0, dtypes.INDEX)
    for i, d in zip(index, shape):
        flat = flat * d + i
    return flat


def reshape(x: Tensor, shape: Sequence[int]) -> Tensor:
    """The same elements in row-major order with a new shape; one dim may be -1 (inferred)."""
    src = static_shape(as_tensor_check(x, "reshape", "x"), "reshape")
    size = math.prod(src)
    shape = [int(s) for s in shape]
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"reshape: shape may hold one -1 and otherwise non-negative sizes, got {tuple(shape)}")
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if rest == 0 or size % rest:
            raise ValueError(f"reshape: cannot infer -1 in {tuple(shape)} for tensor '{x.name}' of shape {src}")
        shape[shape.index(-1)] = size // rest
    if math.prod(shape) != size:
        raise ValueError(f"reshape: tensor '{x.name}' of shape {src} ({size} elements) cannot take shape "
                         f"{tuple(shape)} ({math.prod(shape)} elements)")
    return dsl.compute(tuple(shape), lambda *i: x[_unravel(_ravel(i, shape), src)], name="reshape", tag=INJECTIVE)


def flatten(x: Tensor, axis: int = 1) -> Tensor:
    """2-D (prod(shape[:axis]), prod(shape[axis:])), as ONNX Flatten; axis=1 is TVM's batch_flatten."""
    src = static_shape(as_tensor_check(x, "flatten", "x"), "flatten")
    if not -x.ndim <= axis <= x.ndim:
        raise ValueError(f"flatten: axis {axis} is out of range for tensor '{x.name}' of {x.ndim} dimensions")
    if axis < 0:
        axis += x.ndim
    return reshape(x, (math.prod(src[:axis]), math.prod(src[axis:])))


def expand_dims(x: Tensor, axis: int, num_newaxis: int = 1) -> Tensor:
    """Insert `num_newaxis` dims of size 1 at `axis` (negative counts from the end of the result)."""
    as_tensor_check(x, "expand_dims", "x")
    n = x.ndim + num_newaxis
    axis = normalize_axis(axis, n, "expand_dims")
    shape = x.shape[:axis] + (1,) * num_newaxis + x.shape[axis:]
    return dsl.compute(shape, lambda *i: x[i[:axis] + i[axis + num_newaxis:]], name="expand_dims", tag=INJECTIVE)


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Drop dims of size 1 (all of them, or those in `axis`, which must have size 1)."""
    as_tensor_check(x, "squeeze", "x")
    if axis is None:
        axes = tuple(d for d, s in enumerate(x.shape) if isinstance(s, int) and s == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of tensor '{x.name}' has size {x.shape[a]}, not 1")
    keep = [d for d in range(x.ndim) if d not in axes]
    shape = tuple(x.shape[d] for d in keep)

    def f(*i: Expr) -> Expr:
        j: list[Expr] = [E.const(0, dtypes.INDEX)] * x.ndim
        for d, v in zip(keep, i):
            j[d] = v
        return x[tuple(j)]

    return dsl.compute(shape, f, name="squeeze", tag=INJECTIVE)


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    """x repeated along its dims of size 1 (numpy's broadcast_to)."""
    as_tensor_check(x, "broadcast_to", "x")
    shape = tuple(shape)
    if broadcast_shape([x.shape, shape], "broadcast_to") != shape:
        raise ValueError(f"broadcast_to: tensor '{x.name}' of shape {x.shape} cannot broadcast to {shape}")
    return dsl.compute(shape, lambda *i: x[broadcast_index(x, shape, i)], name="broadcast_to", tag=INJECTIVE)


def concatenate(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """The tensors joined along `axis`; the other dims must agree, dtypes promote."""
    xs = list(xs)
    if not xs:
        raise ValueError("concatenate: needs at least one tensor")
    for k, x in enumerate(xs):
        as_tensor_check(x, "concatenate", f"xs[{k}]")
    ndim = xs[0].ndim
    axis = normalize_axis(axis, ndim, "concatenate")
    shapes = [static_shape(x, "concatenate") for x in xs]
    for k, s in enumerate(shapes):
        if len(s) != ndim or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:]:
            raise ValueError(f"concatenate: tensor '{xs[k].name}' has shape {s}, which does not match "
                             f"{shapes[0]} outside axis {axis}")
    dt = xs[0].dtype
    for x in xs[1:]:
        dt = dtypes.promote(dt, x.dtype)
    offsets = [0]
    for s in shapes:
        offsets.append(offsets[-1] + s[axis])
    shape = shapes[0][:axis] + (offsets[-1],) + shapes[0][axis + 1:]

    def f(*i: Expr) -> Expr:
        def at(k: int) -> Expr:
            j = i[:axis] + (i[axis] - offsets[k],) + i[axis + 1:]
            return E.cast(xs[k][j], dt)

        out = at(len(xs) - 1)
        for k in range(len(xs) - 2, -1, -1):
            if shapes[k][axis]:
                out = dsl.if_then_else(i[axis] < offsets[k + 1], at(k), out)
        return out

    return dsl.compute(shape, f, name="concatenate", tag=INJECTIVE)


def strided_slice(x: Tensor, begin: Sequence[int], end: Sequence[int], strides: Sequence[int] | None = None,
                  axes: Sequence[int] | None = None) -> Tensor:
    """x[begin:end:strides] on `axes` (default the first len(begin) axes), numpy's clamping and negatives."""
    src = static_shape(as_tensor_check(x, "strided_slice", "x"), "strided_slice")
    begin, end = list(begin), list(end)
    strides = list(strides) if strides is not None else [1] * len(begin)
    axes_l = [normalize_axis(a, x.ndim, "strided_slice") for a in axes] if axes is not None else \
        list(range(len(begin)))
    if not len(begin) == len(end) == len(strides) == len(axes_l):
        raise ValueError(f"strided_slice: begin, end, strides and axes must have the same length, got "
                         f"{len(begin)}, {len(end)}, {len(strides)}, {len(axes_l)}")
    start = [0] * x.ndim
    step = [1] * x.ndim
    shape = list(src)
    for b, e, st, a in zip(begin, end, strides, axes_l):
        if st == 0:
            raise ValueError(f"strided_slice: stride on axis {a} must not be 0")
        b0, e0, _ = slice(int(b), int(e), int(st)).indices(src[a])
        start[a], step[a] = b0, int(st)
        shape[a] = len(range(b0, e0, int(st)))
    return dsl.compute(tuple(shape), lambda *i: x[tuple(start[d] + i[d] * step[d] for d in range(x.ndim))],
                       name="strided_slice", tag=INJECTIVE)


def split(x: Tensor, sizes: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Pieces of x along `axis`: `sizes` an int (that many equal parts) or the size of each part."""
    src = static_shape(as_tensor_check(x, "split", "x"), "split")
    axis = normalize_axis(axis, x.ndim, "split")
    n = src[axis]
    if isinstance(sizes, int):
        if sizes <= 0 or n % sizes:
            raise ValueError(f"split: axis {axis} of tensor '{x.name}' (size {n}) does not split into {sizes} "
                             "equal parts")
        sizes = [n // sizes] * sizes
    sizes = [int(s) for s in sizes]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise ValueError(f"split: sizes {tuple(sizes)} must be non-negative and add up to {n} (axis {axis} of "
                         f"tensor '{x.name}')")
    out, off = [], 0
    for s in sizes:
        out.append(strided_slice(x, [off], [off + s], [1], [axis]))
        off += s
    return out


def take(x: Tensor, indices: Tensor, axis: int = 0) -> Tensor:
    """Gather: out[a..., j..., b...] = x[a..., indices[j...], b...]; negative indices count from the end and
    indices out of range are clamped (never read out of bounds)."""
    as_tensor_check(x, "take", "x")
    as_tensor_check(indices, "take", "indices")
    if not dtypes.is_int(indices.dtype):
        raise TypeError(f"take: indices must be an integer tensor, got {indices.dtype} tensor '{indices.name}'")
    axis = normalize_axis(axis, x.ndim, "take")
    n = x.shape[axis]
    shape = x.shape[:axis] + indices.shape + x.shape[axis + 1:]
    m = indices.ndim

    def f(*i: Expr) -> Expr:
        v = E.cast(indices[i[axis:axis + m]], dtypes.INDEX)
        v = dsl.if_then_else(v < 0, v + n, v)
        v = dsl.min(dsl.max(v, E.const(0, dtypes.INDEX)), E.convert(n, dtypes.INDEX) - 1)
        return x[i[:axis] + (v,) + i[axis + m:]]

    return dsl.compute(shape, f, name="take", tag=INJECTIVE)
