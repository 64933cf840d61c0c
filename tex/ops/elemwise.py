"""Unary elementwise operators: `out[i...] = f(x[i...])`, tag "elemwise"."""

from __future__ import annotations

from collections.abc import Callable

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import as_tensor_check

ELEMWISE = "elemwise"


def _map(x: Tensor, f: Callable[[Expr], Expr], name: str) -> Tensor:
    as_tensor_check(x, name, "x")
    return dsl.compute(x.shape, lambda *i: f(x[i]), name=name, tag=ELEMWISE)


def _float_fn(fn: Callable[[Expr], Expr], name: str) -> Callable[[Tensor], Tensor]:
    """A float math function; integer inputs are computed in float32 (numpy gives float64) and stay float."""

    def op(x: Tensor) -> Tensor:
        as_tensor_check(x, name, "x")
        if dtypes.is_float(x.dtype):
            return _map(x, fn, name)
        return _map(x, lambda v: fn(E.cast(v, "float32")), name)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}(x); integer inputs give float32."
    return op


exp = _float_fn(dsl.exp, "exp")
log = _float_fn(dsl.log, "log")
sqrt = _float_fn(dsl.sqrt, "sqrt")
rsqrt = _float_fn(dsl.rsqrt, "rsqrt")
tanh = _float_fn(dsl.tanh, "tanh")
sigmoid = _float_fn(dsl.sigmoid, "sigmoid")
erf = _float_fn(dsl.erf, "erf")


def negative(x: Tensor) -> Tensor:
    """-x."""
    return _map(x, lambda v: -v, "negative")


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """|x|."""
    if not dtypes.is_signed(as_tensor_check(x, "abs", "x").dtype) or x.dtype == "bool":
        return identity(x, "abs")
    return _map(x, dsl.abs, "abs")


def identity(x: Tensor, name: str = "identity") -> Tensor:
    """A copy of x."""
    return _map(x, lambda v: v, name)


def _rounding(fn: Callable[[Expr], Expr], name: str) -> Callable[[Tensor], Tensor]:
    def op(x: Tensor) -> Tensor:
        if not dtypes.is_float(as_tensor_check(x, name, "x").dtype):
            return identity(x, name)  # integers are already whole
        return _map(x, fn, name)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}(x) (integers pass through)."
    return op


floor = _rounding(dsl.floor, "floor")
ceil = _rounding(dsl.ceil, "ceil")
round = _rounding(dsl.round, "round")  # noqa: A001 (half to even, as numpy and ONNX)


def relu(x: Tensor) -> Tensor:
    """max(x, 0)."""
    as_tensor_check(x, "relu", "x")
    return _map(x, lambda v: dsl.max(v, E.const(0, x.dtype)), "relu")


def leaky_relu(x: Tensor, alpha: float = 0.01) -> Tensor:
    """x where x > 0, else alpha * x."""
    as_tensor_check(x, "leaky_relu", "x")
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"leaky_relu: x must be a float tensor, got {x.dtype} tensor '{x.name}'")
    a = E.const(float(alpha), x.dtype)
    return _map(x, lambda v: dsl.if_then_else(v > E.const(0, x.dtype), v, v * a), "leaky_relu")


def clip(x: Tensor, lo: float | int | None, hi: float | int | None) -> Tensor:
    """min(max(x, lo), hi); a bound of None is open."""
    as_tensor_check(x, "clip", "x")

    def bound(v: float | int) -> Expr:
        if dtypes.is_int(x.dtype):
            v = int(max(min(v, dtypes.max_value(x.dtype)), dtypes.min_value(x.dtype)))
        return E.const(v, x.dtype)

    def f(v: Expr) -> Expr:
        if lo is not None:
            v = dsl.max(v, bound(lo))
        if hi is not None:
            v = dsl.min(v, bound(hi))
        return v

    return _map(x, f, "clip")


def cast(x: Tensor, dtype: str) -> Tensor:
    """x converted to `dtype` (float -> int truncates toward zero, as numpy's astype)."""
    as_tensor_check(x, "cast", "x")
    dtype = dtypes.check(dtype, "cast: dtype")
    if dtype == "bool" and x.dtype != "bool":
        return _map(x, lambda v: v != E.const(0, x.dtype), "cast")
    return _map(x, lambda v: E.cast(v, dtype), "cast")
