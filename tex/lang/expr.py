"""Expression IR: immutable scalar expression nodes shared by the DSL and the loop IR.

Nodes are frozen slotted dataclasses compared by identity (`is`); `structural_equal` compares
by value. As in TVM, `a == b` on expressions builds an `EQ` node lazily (`EqualOp`) that is also
truthy when the two sides are structurally equal, so expressions still work in `if` and `in`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Union

from tex.lang import dtypes

ExprLike = Union["Expr", int, float, bool]


class Expr:
    """Base of every expression node; carries Python operator overloading."""

    __slots__ = ()
    dtype: str

    def __add__(self, o: ExprLike) -> Expr:
        return binary(Add, self, o)

    def __radd__(self, o: ExprLike) -> Expr:
        return binary(Add, o, self)

    def __sub__(self, o: ExprLike) -> Expr:
        return binary(Sub, self, o)

    def __rsub__(self, o: ExprLike) -> Expr:
        return binary(Sub, o, self)

    def __mul__(self, o: ExprLike) -> Expr:
        return binary(Mul, self, o)

    def __rmul__(self, o: ExprLike) -> Expr:
        return binary(Mul, o, self)

    def __truediv__(self, o: ExprLike) -> Expr:
        return true_div(self, o)

    def __rtruediv__(self, o: ExprLike) -> Expr:
        return true_div(o, self)

    def __floordiv__(self, o: ExprLike) -> Expr:
        return floor_div(self, o)

    def __rfloordiv__(self, o: ExprLike) -> Expr:
        return floor_div(o, self)

    def __mod__(self, o: ExprLike) -> Expr:
        return binary(FloorMod, self, o)

    def __rmod__(self, o: ExprLike) -> Expr:
        return binary(FloorMod, o, self)

    def __neg__(self) -> Expr:
        if isinstance(self, Const):
            return Const(-self.value, self.dtype)
        return binary(Sub, Const(0, self.dtype), self)

    def __lt__(self, o: ExprLike) -> Expr:
        return compare(LT, self, o)

    def __le__(self, o: ExprLike) -> Expr:
        return compare(LE, self, o)

    def __gt__(self, o: ExprLike) -> Expr:
        return compare(GT, self, o)

    def __ge__(self, o: ExprLike) -> Expr:
        return compare(GE, self, o)

    def __eq__(self, o: object) -> EqualOp:  # type: ignore[override]
        return EqualOp(self, o, negate=False)

    def __ne__(self, o: object) -> EqualOp:  # type: ignore[override]
        return EqualOp(self, o, negate=True)

    def __and__(self, o: ExprLike) -> Expr:
        return logical(And, self, o)

    def __rand__(self, o: ExprLike) -> Expr:
        return logical(And, o, self)

    def __or__(self, o: ExprLike) -> Expr:
        return logical(Or, self, o)

    def __ror__(self, o: ExprLike) -> Expr:
        return logical(Or, o, self)

    def __invert__(self) -> Expr:
        return Not(as_bool(self, "~"))

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError(
            f"cannot use the expression `{self}` as a Python bool: "
            "combine conditions with tex.all/tex.any or & and |, and branch with tex.if_then_else"
        )

    def astype(self, dtype: str) -> Expr:
        """Convert to `dtype` (a no-op when it already has it)."""
        return cast(self, dtype)

    def __str__(self) -> str:
        from tex.lang.printer import expr_str

        return expr_str(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"


class EqualOp:
    """Result of `a == b` / `a != b`: an `EQ`/`NE` node on demand, structural equality as a bool."""

    __slots__ = ("a", "b", "negate")

    def __init__(self, a: Expr, b: object, negate: bool):
        self.a, self.b, self.negate = a, b, negate

    def __bool__(self) -> bool:
        if not isinstance(self.b, (Expr, int, float, bool)):
            return self.negate
        same = structural_equal(self.a, convert(self.b, self.a.dtype))
        return same != self.negate

    def asobject(self) -> Expr:
        return compare(NE if self.negate else EQ, self.a, self.b)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.asobject(), name)

    def __str__(self) -> str:
        return str(self.asobject())


def node(cls: type) -> type:
    """Decorator for IR node classes: frozen, slotted, identity-compared dataclasses."""
    return dataclass(frozen=True, slots=True, eq=False, repr=False)(cls)


@node
class Const(Expr):
    value: int | float | bool
    dtype: str

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)


@node
class Var(Expr):
    """A named scalar variable; two Vars are the same only if they are the same object."""

    name: str
    dtype: str = "int32"


@node
class BinaryOp(Expr):
    a: Expr
    b: Expr
    dtype: str


class Add(BinaryOp):
    __slots__ = ()


class Sub(BinaryOp):
    __slots__ = ()


class Mul(BinaryOp):
    __slots__ = ()


class Div(BinaryOp):
    """True division of floats."""

    __slots__ = ()


class FloorDiv(BinaryOp):
    """Integer division rounding towards minus infinity (Python's `//`)."""

    __slots__ = ()


class FloorMod(BinaryOp):
    """Remainder of FloorDiv: the sign follows the divisor (Python's `%`)."""

    __slots__ = ()


class Min(BinaryOp):
    __slots__ = ()


class Max(BinaryOp):
    __slots__ = ()


class CmpOp(BinaryOp):
    """A comparison; `dtype` is bool (or a bool vector in the loop IR)."""

    __slots__ = ()


class EQ(CmpOp):
    __slots__ = ()


class NE(CmpOp):
    __slots__ = ()


class LT(CmpOp):
    __slots__ = ()


class LE(CmpOp):
    __slots__ = ()


class GT(CmpOp):
    __slots__ = ()


class GE(CmpOp):
    __slots__ = ()


class And(BinaryOp):
    __slots__ = ()


class Or(BinaryOp):
    __slots__ = ()


@node
class Not(Expr):
    a: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.a.dtype


@node
class Select(Expr):
    """`true_value if cond else false_value`; both sides may be evaluated."""

    cond: Expr
    true_value: Expr
    false_value: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.true_value.dtype


@node
class Cast(Expr):
    value: Expr
    dtype: str


@node
class Call(Expr):
    """A pure math intrinsic such as `exp` or `pow`, named as in MATH_FUNCTIONS."""

    name: str
    args: tuple[Expr, ...]
    dtype: str


# Intrinsics and their arity; codegen maps each one to an instruction or a libm call.
MATH_FUNCTIONS: dict[str, int] = {
    "exp": 1, "log": 1, "sqrt": 1, "rsqrt": 1, "tanh": 1, "sigmoid": 1, "erf": 1,
    "abs": 1, "floor": 1, "ceil": 1, "round": 1, "pow": 2,
}


@node
class Let(Expr):
    """`body` with `var` bound to `value` (used by lowering to share subexpressions)."""

    var: Var
    value: Expr
    body: Expr

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.body.dtype


# ---------------------------------------------------------------- construction helpers

def convert(value: ExprLike, dtype: str | None = None) -> Expr:
    """An Expr from a Python number; `dtype` is the type a bare number takes."""
    if isinstance(value, EqualOp):
        return value.asobject()
    if isinstance(value, Expr):
        return value
    as_expr = getattr(value, "_e", None)  # an IterVar stands for its variable
    if as_expr is not None:
        return as_expr()
    if isinstance(value, bool):
        return Const(value, "bool")
    if isinstance(value, int):
        if dtype is None or dtypes.is_bool(dtype):
            dtype = dtypes.INDEX
        return Const(float(value) if dtypes.is_float(dtype) else value, dtype)
    if isinstance(value, float):
        if dtype is None or not dtypes.is_float(dtype):
            dtype = "float32"
        return Const(value, dtype)
    if hasattr(value, "dtype") and hasattr(value, "item"):  # numpy scalar
        return Const(value.item(), dtypes.check(value.dtype))
    raise TypeError(f"cannot convert {type(value).__name__} {value!r} to a tex expression")


def cast(value: ExprLike, dtype: str) -> Expr:
    dtype = dtypes.check(dtypes.element(dtype)) if "x" not in dtype else dtype
    e = convert(value, dtype)
    if e.dtype == dtype:
        return e
    if isinstance(e, Const):
        return Const(_coerce(e.value, dtype), dtype)
    return Cast(e, dtype)


def _coerce(value: int | float | bool, dtype: str) -> int | float | bool:
    if dtypes.is_bool(dtype):
        return bool(value)
    if dtypes.is_float(dtype):
        return float(value)
    return int(value)


def _operands(a: ExprLike, b: ExprLike) -> tuple[Expr, Expr]:
    if not isinstance(a, Expr) and isinstance(b, Expr):
        a = convert(a, b.dtype)
    if not isinstance(b, Expr) and isinstance(a, Expr):
        b = convert(b, a.dtype)
    a, b = convert(a), convert(b)
    t = dtypes.promote(a.dtype, b.dtype)
    return cast(a, t), cast(b, t)


_FOLD = {
    "Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
    "Min": min, "Max": max,
    "FloorDiv": lambda a, b: a // b if b else None, "FloorMod": lambda a, b: a % b if b else None,
}


def binary(cls: type[BinaryOp], a: ExprLike, b: ExprLike) -> Expr:
    x, y = _operands(a, b)
    if x.dtype == "bool" and cls in (Add, Sub, Mul):
        x, y = cast(x, "int32"), cast(y, "int32")
    fold = _FOLD.get(cls.__name__)
    if fold is not None and isinstance(x, Const) and isinstance(y, Const) and dtypes.is_int(x.dtype):
        v = fold(x.value, y.value)
        if v is not None:
            return Const(v, x.dtype)
    return cls(x, y, x.dtype)


def compare(cls: type[CmpOp], a: ExprLike, b: ExprLike) -> Expr:
    x, y = _operands(a, b)
    return cls(x, y, "bool")


def as_bool(e: ExprLike, where: str) -> Expr:
    x = convert(e)
    if x.dtype != "bool":
        raise TypeError(f"{where}: expected a condition (bool expression), got {x.dtype} `{x}`")
    return x


def logical(cls: type[BinaryOp], a: ExprLike, b: ExprLike) -> Expr:
    name = "&" if cls is And else "|"
    return cls(as_bool(a, name), as_bool(b, name), "bool")


def true_div(a: ExprLike, b: ExprLike) -> Expr:
    x, y = _operands(a, b)
    if not dtypes.is_float(x.dtype):
        raise TypeError(
            f"integer `/` on index expressions (`({x}) / ({y})`) is ambiguous: use `//` for floor division "
            "or cast to a float type first"
        )
    return Div(x, y, x.dtype)


def floor_div(a: ExprLike, b: ExprLike) -> Expr:
    x, y = _operands(a, b)
    if dtypes.is_float(x.dtype):
        return Call("floor", (Div(x, y, x.dtype),), x.dtype)
    return FloorDiv(x, y, x.dtype)


def const(value: int | float | bool, dtype: str | None = None) -> Const:
    """A constant; without dtype, ints are int32 (as in TVM), floats float32."""
    if dtype is None:
        dtype = "bool" if isinstance(value, bool) else "int32" if isinstance(value, int) else "float32"
    dtype = dtypes.check(dtype)
    if dtypes.is_int(dtype) and isinstance(value, float) and not float(value).is_integer():
        raise ValueError(f"const: {value!r} is not representable as {dtype}")
    if isinstance(value, float) and math.isnan(value) and not dtypes.is_float(dtype):
        raise ValueError(f"const: NaN is not representable as {dtype}")
    return Const(_coerce(value, dtype), dtype)


# ---------------------------------------------------------------- structural equality

def structural_equal(a: object, b: object) -> bool:
    """Value equality of two IR trees (Vars and other identity nodes compare by identity)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, Const):
        return a.dtype == b.dtype and a.value == b.value  # type: ignore[attr-defined]
    if isinstance(a, Var) or getattr(type(a), "_leaf", False):
        return False  # identity nodes: two distinct Vars named `i` are different variables
    if isinstance(a, tuple):
        return len(a) == len(b) and all(structural_equal(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, Expr):
        return all(structural_equal(getattr(a, f), getattr(b, f)) for f in field_names(type(a)))
    if isinstance(a, (str, int, float, bool)) or a is None:
        return a == b
    return False


_FIELDS: dict[type, tuple[str, ...]] = {}


def field_names(cls: type) -> tuple[str, ...]:
    """Dataclass field names of an IR node class, cached (the functors use them to rebuild nodes)."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    return names
