"""Softmax and log-softmax along one axis, in stages: max, exp, sum, normalise.

softmax:     m = max_k x[.., k, ..];  e = exp(x - m);  s = sum_k e;  out = e / s      (output tag "softmax")
log_softmax: m = max_k x;  s = sum_k exp(x - m);  out = x - m - log(s)             (output tag "log_softmax")
float16 inputs are computed in float32 and the result cast back.
"""

from __future__ import annotations

from collections.abc import Sequence

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Reduce, Tensor
from tex.ops._util import as_tensor_check, normalize_axis


def _stages(x: Tensor, axis: int, prefix: str) -> tuple[int, str, Tensor, Tensor]:
    as_tensor_check(x, prefix, "x")
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"{prefix}: x must be a float tensor, got {x.dtype} tensor '{x.name}'")
    ax = normalize_axis(axis, x.ndim, prefix)
    dt = "float32" if x.dtype == "float16" else x.dtype
    red_shape = x.shape[:ax] + x.shape[ax + 1:]

    def at(i: Sequence[Expr], k: Expr) -> tuple[Expr, ...]:
        return tuple(i[:ax]) + (k,) + tuple(i[ax:])

    k1 = dsl.reduce_axis((0, x.shape[ax]), name="k")
    mx = dsl.compute(red_shape, lambda *i: Reduce("max", E.cast(x[at(i, k1.var)], dt), (k1,), None, dt),
                     name=f"{prefix}_max", tag="reduce")
    k2 = dsl.reduce_axis((0, x.shape[ax]), name="k")
    sm = dsl.compute(red_shape, lambda *i: Reduce(
        "sum", dsl.exp(E.cast(x[at(i, k2.var)], dt) - mx[i]), (k2,), None, dt), name=f"{prefix}_sum", tag="reduce")
    return ax, dt, mx, sm


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x - max) / sum(exp(x - max)) along `axis`."""
    ax, dt, mx, _ = _stages(x, axis, "softmax")
    # The exp stage is shared by the sum and the output (TVM's layout); inlining it recomputes exp.
    e = dsl.compute(x.shape, lambda *i: dsl.exp(E.cast(x[i], dt) - mx[i[:ax] + i[ax + 1:]]), name="softmax_exp",
                    tag="elemwise")
    k = dsl.reduce_axis((0, x.shape[ax]), name="k")
    s = dsl.compute(mx.shape, lambda *i: dsl.sum(e[tuple(i[:ax]) + (k.var,) + tuple(i[ax:])], axis=k),
                    name="softmax_sum", tag="reduce")
    return dsl.compute(x.shape, lambda *i: E.cast(e[i] / s[i[:ax] + i[ax + 1:]], x.dtype), name="softmax",
                       tag="softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - max - log(sum(exp(x - max))) along `axis`."""
    ax, dt, mx, sm = _stages(x, axis, "log_softmax")

    def f(*i: Expr) -> Expr:
        r = i[:ax] + i[ax + 1:]
        return E.cast(E.cast(x[i], dt) - mx[r] - dsl.log(sm[r]), x.dtype)

    return dsl.compute(x.shape, f, name="log_softmax", tag="log_softmax")
