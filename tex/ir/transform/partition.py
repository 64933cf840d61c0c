"""Loop partitioning: a serial loop whose guards hold on a prefix of its iterations becomes two loops,
the prefix without the guards (TVM's LoopPartition; the guards come from splits that do not divide).

    for xo in range(2):                         for xo in range(0, 1):          # every guard holds:
      for xc in range(4):  # unrolled     ->      for xc in range(4): S         # dropped
        if xo*4 + xc < 7: S                     for xo in range(1, 2):          # the tail: its guarded
                                                  for xc in range(3): S         # loop is tightened

A guard is an `if` condition or a `min(a, b)` loop extent (a split's tail, `a <= b` in full tiles) that
mentions the loop variable. The split point is the shortest of the guards' longest prefixes on which they
provably hold for every value of the loops inside them (binary search with the simplifier's `prove`),
among the guards that hold on some prefix but not on all iterations; guards that never hold on a prefix
(`if xo == 0`) stay in both copies. Both copies are simplified under their own ranges, which drops the
guards of the head; in the tail, a loop whose whole body is a guard that holds on its first k iterations
and on none after them runs k iterations unguarded (a register tile of the tail's width). The tail's
allocations are new buffers, since OpenCL C declares each one once per kernel.

Only serial loops with constant bounds and no barrier are partitioned: a parallel loop would fork twice,
unrolled and vectorized loops lose their tails by unrolling or vectorizing, and a GPU loop that stages
tiles through __local memory keeps one copy of its barriers.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tex.ir.nodes import Allocate, Barrier, For, ForKind, IfThenElse, LetStmt, PrimFunc, Seq, Stmt, seq
from tex.ir.transform.simplify import Scope, simplify_stmt
from tex.lang.expr import Const, Expr, Min, Not, Var
from tex.lang.functor import Mutator, collect, substitute
from tex.lang.simplify import prove


def partition_loops(func: PrimFunc) -> PrimFunc:
    """`func` with the guarded tails of its serial loops split off; `func` itself when there are none."""
    body = _stmt(func.body, {})
    return func if body is func.body else replace(func, body=body)


def _stmt(s: Stmt, scope: Scope) -> Stmt:
    if isinstance(s, For):
        return _for(s, scope)
    if isinstance(s, Seq):
        stmts = [_stmt(x, scope) for x in s.stmts]
        return s if all(a is b for a, b in zip(stmts, s.stmts)) else seq(*stmts)
    if isinstance(s, IfThenElse):
        then = _stmt(s.then_body, scope)
        other = _stmt(s.else_body, scope) if s.else_body is not None else None
        return s if then is s.then_body and other is s.else_body else IfThenElse(s.cond, then, other)
    if isinstance(s, LetStmt):
        body = _stmt(s.body, {**scope, s.var: (s.value, Const(1, s.value.dtype))})
        return s if body is s.body else replace(s, body=body)
    if isinstance(s, Allocate):
        body = _stmt(s.body, scope)
        return s if body is s.body else replace(s, body=body)
    return s


def _for(s: For, scope: Scope) -> Stmt:
    point = _split_point(s, scope) if s.kind is ForKind.SERIAL else None
    if point is None:
        body = _stmt(s.body, {**scope, s.var: (s.min, s.extent)})
        s = s if body is s.body else replace(s, body=body)
        return _tighten(s, scope)
    lo, n = s.min.value, s.extent.value  # type: ignore[attr-defined]
    dtype = s.var.dtype
    tail_var = Var(s.var.name, dtype)
    head = replace(s, extent=Const(point, dtype))
    tail = replace(s, var=tail_var, min=Const(lo + point, dtype), extent=Const(n - point, dtype),
                   body=_fresh_allocations(substitute(s.body, {s.var: tail_var})))
    parts = [simplify_stmt(x, scope) for x in (head, tail)]
    return seq(*(_stmt(x, scope) for x in parts if x is not None))


def _fresh_allocations(body: Stmt) -> Stmt:
    """`body` with its allocations renamed to new buffers (`x` -> `x.tail`): OpenCL C declares each one
    once per kernel, so the two copies of a loop cannot share them."""
    fresh = {id(a.buffer): replace(a.buffer, name=f"{a.buffer.name}.tail")
             for a in collect(body, lambda n: isinstance(n, Allocate))}
    if not fresh:
        return body

    class Rename(Mutator):
        def generic(self, n: Any) -> Any:
            n = super().generic(n)
            buf = getattr(n, "buffer", None)
            return replace(n, buffer=fresh[id(buf)]) if id(buf) in fresh else n

    return Rename().visit(body)


def _tighten(s: For, scope: Scope) -> For:
    """`for v in range(m, m + n): if c: S` whose guard holds on the first k < n iterations and on none
    after them is `for v in range(m, m + k): S` (a partitioned tail's tile, unrolled without branches)."""
    body = s.body
    if not (isinstance(body, IfThenElse) and body.else_body is None and _mentions(body.cond, s.var)
            and isinstance(s.min, Const) and isinstance(s.extent, Const)):
        return s
    lo, n, dtype = s.min.value, s.extent.value, s.var.dtype
    k = _prefix(body.cond, s, scope)
    if k is None or k == n:
        return s
    if prove(Not(body.cond), {**scope, s.var: (Const(lo + k, dtype), Const(n - k, dtype))}) is not True:
        return s
    return replace(s, extent=Const(k, dtype), body=body.then_body)


def _prefix(cond: Expr, s: For, scope: Scope) -> int | None:
    """The most first iterations of loop `s` (constant bounds) on which `cond` provably holds, for all values
    of the vars in `scope`; None when not even on the first. Binary search: a guard that holds on k
    iterations holds on fewer."""
    lo, n, dtype = s.min.value, s.extent.value, s.var.dtype  # type: ignore[attr-defined]

    def holds(k: int) -> bool:
        return prove(cond, {**scope, s.var: (Const(lo, dtype), Const(k, dtype))}) is True

    if holds(n):
        return n
    if not holds(1):
        return None
    good, bad = 1, n
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if holds(mid) else (good, mid)
    return good


def _split_point(s: For, scope: Scope) -> int | None:
    """The iterations of the head copy, or None when no guard of `s` is worth splitting for."""
    if not (isinstance(s.min, Const) and isinstance(s.extent, Const)) or s.extent.value < 2:
        return None
    if collect(s.body, lambda n: isinstance(n, Barrier)):
        return None  # a GPU loop staging tiles through __local memory: one copy of its barriers
    prefixes = (_prefix(cond, s, {**scope, **inner}) for cond, inner in _guards(s.body, s.var, {}))
    return min((k for k in prefixes if k is not None and k < s.extent.value), default=None)


def _guards(s: Stmt, var: Var, inner: Scope) -> list[tuple[Expr, Scope]]:
    """The guards under `s` that mention `var`, each with the ranges of the loops between."""
    found: list[tuple[Expr, Scope]] = []
    if isinstance(s, For):
        if isinstance(s.extent, Min) and _mentions(s.extent, var):
            found.append((s.extent.a <= s.extent.b, inner))
        found += _guards(s.body, var, {**inner, s.var: (s.min, s.extent)})
    elif isinstance(s, Seq):
        for x in s.stmts:
            found += _guards(x, var, inner)
    elif isinstance(s, IfThenElse):
        if _mentions(s.cond, var):
            found.append((s.cond, inner))
        found += _guards(s.then_body, var, inner)
        if s.else_body is not None:
            found += _guards(s.else_body, var, inner)
    elif isinstance(s, LetStmt):
        found += _guards(s.body, var, {**inner, s.var: (s.value, Const(1, s.value.dtype))})
    elif isinstance(s, Allocate):
        found += _guards(s.body, var, inner)
    return found


def _mentions(e: Expr, var: Var) -> bool:
    return bool(collect(e, lambda n: n is var))
