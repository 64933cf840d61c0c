"""Printer of the expression IR: Python-like infix text with minimal parentheses."""

from __future__ import annotations

import math

from tex.lang import expr as E
from tex.lang.tensor import ComputeOp, PlaceholderOp, Reduce, TensorLoad

# Binding strength of each infix operator (higher binds tighter), Python's precedences.
_INFIX: dict[type, tuple[str, int]] = {
    E.Or: ("or", 1), E.And: ("and", 2),
    E.EQ: ("==", 4), E.NE: ("!=", 4), E.LT: ("<", 4), E.LE: ("<=", 4), E.GT: (">", 4), E.GE: (">=", 4),
    E.Add: ("+", 6), E.Sub: ("-", 6),
    E.Mul: ("*", 7), E.Div: ("/", 7), E.FloorDiv: ("//", 7), E.FloorMod: ("%", 7),
}
_ATOM = 10


class ExprPrinter:
    """Subclass and add `p_<Class>` methods to print the nodes of another IR."""

    def __init__(self) -> None:
        self._methods: dict[type, object] = {}

    def expr(self, e: object) -> str:
        return self.prec(e)[0]

    def prec(self, e: object) -> tuple[str, int]:
        """The text of `e` and the binding strength of its outermost operator."""
        fn = self._methods.get(type(e))
        if fn is None:
            for klass in type(e).__mro__:
                fn = getattr(self, f"p_{klass.__name__}", None)
                if fn is not None:
                    break
            self._methods[type(e)] = fn
        if fn is None:  # a node of a higher IR printed through its own __str__
            return (str(e) if type(e).__str__ is not E.Expr.__str__ else type(e).__name__), _ATOM
        return fn(e)  # type: ignore[operator]

    def _wrap(self, e: object, need: int, right: bool = False) -> str:
        text, p = self.prec(e)
        return f"({text})" if p < need or (right and p == need) else text

    def p_Const(self, e: E.Const) -> tuple[str, int]:
        v = e.value
        if e.dtype == "bool":
            return ("True" if v else "False"), _ATOM
        if isinstance(v, float):
            if math.isinf(v):
                text = "inf" if v > 0 else "-inf"
            elif math.isnan(v):
                text = "nan"
            else:
                text = repr(v)
            suffix = "" if e.dtype == "float32" else f"_{e.dtype}"
            return f"{text}f{suffix}" if suffix == "" else f"{e.dtype}({text})", _ATOM if v >= 0 else 8
        text = str(v) if e.dtype in ("int64", "int32") else f"{e.dtype}({v})"
        return text, _ATOM if v >= 0 else 8

    def p_Var(self, e: E.Var) -> tuple[str, int]:
        return e.name, _ATOM

    def p_BinaryOp(self, e: E.BinaryOp) -> tuple[str, int]:
        if type(e) in (E.Min, E.Max):
            return f"{type(e).__name__.lower()}({self.expr(e.a)}, {self.expr(e.b)})", _ATOM
        op, p = _INFIX[type(e)]
        return f"{self._wrap(e.a, p)} {op} {self._wrap(e.b, p, right=True)}", p

    def p_Not(self, e: E.Not) -> tuple[str, int]:
        return f"not {self._wrap(e.a, 3)}", 3

    def p_Select(self, e: E.Select) -> tuple[str, int]:
        return f"select({self.expr(e.cond)}, {self.expr(e.true_value)}, {self.expr(e.false_value)})", _ATOM

    def p_Cast(self, e: E.Cast) -> tuple[str, int]:
        return f"{e.dtype}({self.expr(e.value)})", _ATOM

    def p_Call(self, e: E.Call) -> tuple[str, int]:
        return f"{e.name}({', '.join(self.expr(a) for a in e.args)})", _ATOM

    def p_Let(self, e: E.Let) -> tuple[str, int]:
        return f"let({e.var.name} = {self.expr(e.value)}, {self.expr(e.body)})", _ATOM

    def p_TensorLoad(self, e: TensorLoad) -> tuple[str, int]:
        return f"{e.tensor.name}[{', '.join(self.expr(i) for i in e.indices)}]", _ATOM

    def p_Reduce(self, e: Reduce) -> tuple[str, int]:
        axes = ", ".join(iv.name for iv in e.axis)
        where = f", where={self.expr(e.condition)}" if e.condition is not None else ""
        return f"{e.combiner}({self.expr(e.source)}, axis=[{axes}]{where})", _ATOM


def expr_str(e: object) -> str:
    return ExprPrinter().expr(e)


def op_str(op: object) -> str:
    """`C[i, j] = sum(A[i, k] * B[k, j], axis=[k])  # i in range(64), ...` for a compute."""
    if isinstance(op, PlaceholderOp):
        return f"{op.name} = placeholder(({', '.join(map(str, op.shape))}), {op.dtype})"
    assert isinstance(op, ComputeOp)
    idx = ", ".join(iv.name for iv in op.axis)
    doms = ", ".join(f"{iv.name} in {iv.dom}" for iv in op.axis + op.reduce_axis)
    return f"{op.name}[{idx}] = {expr_str(op.body)}  # {doms}"
