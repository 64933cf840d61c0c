"""Simplify: every expression of a kernel simplified under the ranges of the loops around it.

Walking down, a `for v in range(min, min + extent)` puts `v in [min, min + extent)` in scope (a
symbolic extent such as `min(4, n - io*4)` still bounds v by 4) and a `v = value` LetStmt puts
`v in [value, value + 1)`. Then:

    if True: S else: T        -> S          if False: S else: T  -> T (or nothing)
    for v in range(m, m + 0)  -> nothing    for v in range(m, m + 1): S -> S[v := m]  (remove_unit_loops)
    store with predicate True -> no predicate;  with predicate False -> nothing
    v = <constant>; S         -> S[v := constant]

Thread-binding loops of extent 1 stay: they define the launch grid. Nothing changed -> the same PrimFunc.
"""

from __future__ import annotations

from dataclasses import replace

from tex.ir.nodes import (
    Allocate,
    Broadcast,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    PrimFunc,
    Seq,
    Stmt,
    Store,
    seq,
)
from tex.lang.expr import Const, Expr, Not, Var
from tex.lang.functor import substitute
from tex.lang.simplify import simplify

Scope = dict[Var, tuple[Expr, Expr]]


def simplify_func(func: PrimFunc, remove_unit_loops: bool = True) -> PrimFunc:
    """`func` with its statements and expressions simplified; `func` itself when nothing changed."""
    body = _Pass(remove_unit_loops).stmt(func.body, {})
    if body is func.body:
        return func
    return replace(func, body=body if body is not None else Seq(()))


def simplify_stmt(s: Stmt, scope: Scope, remove_unit_loops: bool = True) -> Stmt | None:
    """One statement simplified under `scope` ({var: (min, extent)} of the loops around it); None if it
    does nothing."""
    return _Pass(remove_unit_loops).stmt(s, scope)


class _Pass:
    def __init__(self, remove_unit_loops: bool):
        self.remove_unit_loops = remove_unit_loops

    def stmt(self, s: Stmt, scope: Scope) -> Stmt | None:
        """The simplified statement, `s` itself if unchanged, None if it does nothing."""
        fn = getattr(self, f"_{type(s).__name__}", None)
        return fn(s, scope) if fn is not None else s

    def _For(self, s: For, scope: Scope) -> Stmt | None:
        lo, extent = simplify(s.min, scope), simplify(s.extent, scope)
        if isinstance(extent, Const) and extent.value <= 0:
            return None
        unit = isinstance(extent, Const) and extent.value == 1
        if unit and self.remove_unit_loops and s.kind is not ForKind.THREAD_BINDING:
            return self.stmt(substitute(s.body, {s.var: lo}), scope)
        body = self.stmt(s.body, {**scope, s.var: (lo, extent)})
        if body is None:
            return None
        if lo is s.min and extent is s.extent and body is s.body:
            return s
        return replace(s, min=lo, extent=extent, body=body)

    def _IfThenElse(self, s: IfThenElse, scope: Scope) -> Stmt | None:
        cond = simplify(s.cond, scope)
        if isinstance(cond, Const):
            taken = s.then_body if cond.value else s.else_body
            return self.stmt(taken, scope) if taken is not None else None
        then = self.stmt(s.then_body, scope)
        other = self.stmt(s.else_body, scope) if s.else_body is not None else None
        if then is None and other is None:
            return None
        if then is None:
            assert other is not None
            return IfThenElse(simplify(Not(cond), scope), other)
        if cond is s.cond and then is s.then_body and other is s.else_body:
            return s
        return IfThenElse(cond, then, other)

    def _Seq(self, s: Seq, scope: Scope) -> Stmt | None:
        stmts = [self.stmt(x, scope) for x in s.stmts]
        if all(a is b for a, b in zip(stmts, s.stmts)):
            return s
        kept = [x for x in stmts if x is not None]
        return seq(*kept) if kept else None

    def _Store(self, s: Store, scope: Scope) -> Stmt | None:
        indices = tuple(simplify(i, scope) for i in s.indices)
        value = simplify(s.value, scope)
        pred = simplify(s.predicate, scope) if s.predicate is not None else None
        flag = pred.value if isinstance(pred, Broadcast) else pred
        if isinstance(flag, Const):
            if not flag.value:
                return None
            pred = None
        if value is s.value and pred is s.predicate and all(a is b for a, b in zip(indices, s.indices)):
            return s
        return replace(s, indices=indices, value=value, predicate=pred)

    def _Allocate(self, s: Allocate, scope: Scope) -> Stmt | None:
        body = self.stmt(s.body, scope)
        if body is None:
            return None
        return s if body is s.body else replace(s, body=body)

    def _LetStmt(self, s: LetStmt, scope: Scope) -> Stmt | None:
        value = simplify(s.value, scope)
        if isinstance(value, Const):
            return self.stmt(substitute(s.body, {s.var: value}), scope)
        body = self.stmt(s.body, {**scope, s.var: (value, Const(1, value.dtype))})
        if body is None:
            return None
        return s if value is s.value and body is s.body else replace(s, value=value, body=body)
