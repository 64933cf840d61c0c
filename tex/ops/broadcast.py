"""Binary elementwise operators with numpy broadcasting, tag "broadcast".

`out[i...] = f(a[ia...], b[ib...])` where `ia` maps each output index to `a`'s own (0 on a dim of 1).
Operands may be tensors or Python numbers; a number takes the tensors' dtype.
"""

from __future__ import annotations

from collections.abc import Callable

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import TensorOrScalar, broadcast_shape, element, operand_dtype, shape_of

BROADCAST = "broadcast"


def _check(xs: tuple[TensorOrScalar, ...], name: str) -> None:
    if not any(isinstance(x, Tensor) for x in xs):
        raise TypeError(f"{name}: at least one operand must be a tex Tensor, got {[type(x).__name__ for x in xs]}")
    for k, x in enumerate(xs):
        if not isinstance(x, (Tensor, int, float, bool, Expr)):
            raise TypeError(f"{name}: operand {k} must be a tex Tensor or a Python number, got {type(x).__name__}")


def _binary(a: TensorOrScalar, b: TensorOrScalar, f: Callable[[Expr, Expr], Expr], name: str,
            dtype: str | None = None) -> Tensor:
    _check((a, b), name)
    dt = dtype or operand_dtype((a, b))
    shape = broadcast_shape([shape_of(a), shape_of(b)], name)
    return dsl.compute(shape, lambda *i: f(element(a, shape, i, dt), element(b, shape, i, dt)), name=name,
                       tag=BROADCAST)


def add(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a + b."""
    return _binary(a, b, lambda x, y: x + y, "add")


def subtract(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a - b."""
    return _binary(a, b, lambda x, y: x - y, "subtract")


def multiply(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a * b."""
    return _binary(a, b, lambda x, y: x * y, "multiply")


def _trunc_div(x: Expr, y: Expr) -> Expr:
    q = x // y  # floor; step toward zero when the signs differ and there is a remainder
    zero = E.const(0, x.dtype)
    fix = E.convert(x % y != zero) & E.convert((x < zero) != (y < zero))
    return dsl.if_then_else(fix, q + E.const(1, x.dtype), q)


def divide(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a / b; integers divide truncating toward zero (C, ONNX Div and TVM's divide), floats exactly."""
    dt = operand_dtype((a, b))
    return _binary(a, b, (lambda x, y: x / y) if dtypes.is_float(dt) else _trunc_div, "divide")


def floor_divide(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a // b (numpy's floor division)."""
    return _binary(a, b, lambda x, y: x // y, "floor_divide")


def mod(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a % b with the sign of b (numpy's mod)."""
    dt = operand_dtype((a, b))
    if dtypes.is_float(dt):
        return _binary(a, b, lambda x, y: x - dsl.floor(x / y) * y, "mod")
    return _binary(a, b, lambda x, y: x % y, "mod")


def power(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a ** b; integer operands are computed in float64 and cast back."""
    dt = operand_dtype((a, b))
    if dtypes.is_float(dt):
        return _binary(a, b, dsl.pow, "power")
    return _binary(a, b, lambda x, y: E.cast(dsl.pow(E.cast(x, "float64"), E.cast(y, "float64")), dt), "power")


def maximum(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """Elementwise max(a, b)."""
    return _binary(a, b, lambda x, y: dsl.max(x, y), "maximum")


def minimum(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """Elementwise min(a, b)."""
    return _binary(a, b, lambda x, y: dsl.min(x, y), "minimum")


def equal(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a == b (bool)."""
    return _binary(a, b, lambda x, y: E.convert(x == y), "equal")


def not_equal(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a != b (bool)."""
    return _binary(a, b, lambda x, y: E.convert(x != y), "not_equal")


def less(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a < b (bool)."""
    return _binary(a, b, lambda x, y: x < y, "less")


def less_equal(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a <= b (bool)."""
    return _binary(a, b, lambda x, y: x <= y, "less_equal")


def greater(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a > b (bool)."""
    return _binary(a, b, lambda x, y: x > y, "greater")


def greater_equal(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a >= b (bool)."""
    return _binary(a, b, lambda x, y: x >= y, "greater_equal")


def logical_and(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a & b on bools."""
    return _binary(a, b, lambda x, y: x & y, "logical_and", "bool")


def logical_or(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a | b on bools."""
    return _binary(a, b, lambda x, y: x | y, "logical_or", "bool")


def where(cond: TensorOrScalar, a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a where cond holds, else b; all three broadcast together."""
    _check((cond, a, b), "where")
    dt = operand_dtype((a, b))
    shape = broadcast_shape([shape_of(cond), shape_of(a), shape_of(b)], "where")

    def f(*i: Expr) -> Expr:
        c = element(cond, shape, i, cond.dtype if isinstance(cond, Tensor) else "bool")
        if c.dtype != "bool":
            c = E.convert(c != E.const(0, c.dtype))
        return dsl.if_then_else(c, element(a, shape, i, dt), element(b, shape, i, dt))

    return dsl.compute(shape, f, name="where", tag=BROADCAST)
