"""Reductions over several axes: reduce_sum / mean / max / min / prod (tag "reduce").

out[kept...] = combine over reduced axes of x[...]; keepdims leaves the reduced axes as size 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import IterVar, Reduce, Tensor
from tex.ops._util import as_tensor_check, normalize_axes, static_shape

REDUCE = "reduce"


def _out_shape(x: Tensor, axes: tuple[int, ...], keepdims: bool) -> tuple[int | Expr, ...]:
    return tuple(1 if d in axes else s for d, s in enumerate(x.shape) if keepdims or d not in axes)


def _full_index(x: Tensor, axes: tuple[int, ...], keepdims: bool, i: Sequence[Expr],
                rs: Sequence[IterVar]) -> tuple[Expr, ...]:
    """The index of x read at output index `i` and reduction point `rs`."""
    out: list[Expr] = []
    pos = 0
    for d in range(x.ndim):
        if d in axes:
            out.append(rs[axes.index(d)].var)
            pos += keepdims
        else:
            out.append(i[pos])
            pos += 1
    return tuple(out)


def reduction(x: Tensor, axes: int | Sequence[int] | None, keepdims: bool, combiner: str, name: str,
              acc_dtype: str | None = None) -> Tensor:
    """One reduce stage: combine `x` (cast to `acc_dtype`) over `axes`."""
    as_tensor_check(x, name, "x")
    ax = normalize_axes(axes, x.ndim, name)
    if not ax:
        return dsl.compute(x.shape, lambda *i: E.cast(x[i], acc_dtype or x.dtype), name=name, tag="elemwise")
    rs = [dsl.reduce_axis((0, x.shape[a]), name=f"k{a}") for a in ax]
    dt = acc_dtype or x.dtype

    def f(*i: Expr) -> Expr:
        src = E.cast(x[_full_index(x, ax, keepdims, i, rs)], dt)
        return Reduce(combiner, src, tuple(rs), None, dt)

    return dsl.compute(_out_shape(x, ax, keepdims), f, name=name, tag=REDUCE)


def _acc(dtype: str) -> str | None:
    return "float32" if dtype == "float16" else None  # half sums lose digits fast: accumulate in float32


def _cast_back(t: Tensor, dtype: str, name: str) -> Tensor:
    if t.dtype == dtype:
        return t
    return dsl.compute(t.shape, lambda *i: E.cast(t[i], dtype), name=name, tag="elemwise")


def reduce_sum(x: Tensor, axes: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Sum over `axes` (all when None), in x's dtype (float16 accumulates in float32)."""
    as_tensor_check(x, "reduce_sum", "x")
    return _cast_back(reduction(x, axes, keepdims, "sum", "reduce_sum", _acc(x.dtype)), x.dtype, "reduce_sum_cast")


def reduce_mean(x: Tensor, axes: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Mean over `axes`: a sum stage, then a scale stage (integers divide with floor, keeping the dtype)."""
    as_tensor_check(x, "reduce_mean", "x")
    ax = normalize_axes(axes, x.ndim, "reduce_mean")
    n = math.prod(static_shape(x, "reduce_mean")[a] for a in ax)
    s = reduction(x, ax, keepdims, "sum", "reduce_mean_sum", _acc(x.dtype))
    if dtypes.is_float(s.dtype):
        inv = E.const(1.0 / max(n, 1), s.dtype)
        return dsl.compute(s.shape, lambda *i: E.cast(s[i] * inv, x.dtype), name="reduce_mean", tag="elemwise")
    return dsl.compute(s.shape, lambda *i: s[i] // E.const(max(n, 1), s.dtype), name="reduce_mean", tag="elemwise")


def reduce_max(x: Tensor, axes: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Maximum over `axes`."""
    return reduction(x, axes, keepdims, "max", "reduce_max")


def reduce_min(x: Tensor, axes: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Minimum over `axes`."""
    return reduction(x, axes, keepdims, "min", "reduce_min")


def reduce_prod(x: Tensor, axes: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
    """Product over `axes`."""
    as_tensor_check(x, "reduce_prod", "x")
    return _cast_back(reduction(x, axes, keepdims, "prod", "reduce_prod", _acc(x.dtype)), x.dtype,
                      "reduce_prod_cast")
