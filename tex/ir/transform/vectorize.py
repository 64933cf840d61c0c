"""Vectorize: a `for v in range(min, min + n):  # vectorized` loop becomes one vector statement.

The rule, for a VECTORIZED loop with a constant extent 2 <= n <= 64 and a straight-line body
(Store, Seq, LetStmt, IfThenElse; no For, Allocate or Barrier):

    v               -> ramp(min, 1, n)
    a + b, a - b    -> a ramp while both sides are ramps or loop-invariant (i*8 + v -> ramp(i*8 + min, 1, n));
    a * c           -> a ramp when c is loop-invariant (integers only)
    invariant e     -> stays scalar; broadcast(e, n) where it meets a vector
    B[..., ramp]    -> a vector load (contiguous when the last index is a stride-1 ramp, else a gather)
    if c: S         -> c invariant: stays an `if`; c depends on v: a predicate on every store of S
                       (codegen then also masks the loads those stores read)

Extent 1 substitutes v := min. An extent `Min(c, e)` with constant c (the guarded tail of a split that does
not divide; lowering emits exactly this form) is partitioned:

    if c <= e:  <the vector body, c lanes>
    else:       for v in range(min, min + e): <body>        # serial, fewer than c iterations

Anything else stays a VECTORIZED loop, which codegen hands to LLVM's loop vectorizer as a hint:
a non-constant extent, an extent above 64, an inner loop, an allocation or barrier, a store whose location
does not depend on v (a reduction into one element), a store not indexed by exactly one ramp of constant
non-zero stride (lanes must write distinct elements), a LetStmt under a lane-dependent `if`.
As in TVM, `vectorize` asserts the iterations are independent; the pass does not check dependences
through memory between iterations.
"""

from __future__ import annotations

from dataclasses import replace

from tex.ir.nodes import (
    Allocate,
    Barrier,
    Broadcast,
    BufferLoad,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    PrimFunc,
    Ramp,
    Seq,
    Stmt,
    Store,
    seq,
)
from tex.lang import dtypes
from tex.lang.expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    BinaryOp,
    Call,
    Cast,
    Const,
    Expr,
    Let,
    Min,
    Mul,
    Not,
    Or,
    Select,
    Sub,
    Var,
)
from tex.lang.functor import Mutator, substitute

MAX_LANES = 64


def vectorize(func: PrimFunc) -> PrimFunc:
    """Rewrite every vectorizable VECTORIZED loop of `func` into vector statements (see the module doc)."""
    body = _LoopVectorizer().visit(func.body)
    return func if body is func.body else replace(func, body=body)


class _Unvectorizable(Exception):
    """Raised inside the rewrite of one loop; the loop is then left for LLVM."""


class _LoopVectorizer(Mutator):
    def visit_For(self, s: For) -> Stmt:
        body = self.visit(s.body)  # inner loops first
        if body is not s.body:
            s = replace(s, body=body)
        if s.kind is not ForKind.VECTORIZED:
            return s
        n = _const_int(s.extent)
        if n is not None:
            if n <= 0:
                return s
            if n == 1:
                return substitute(s.body, {s.var: s.min})
            if n <= MAX_LANES:
                try:
                    return _Lanes(s.var, s.min, n).stmt(s.body, None)
                except _Unvectorizable:
                    return s
            return s
        tail = _min_const(s.extent)
        if tail is not None:
            c, rest = tail
            if 2 <= c <= MAX_LANES:
                try:
                    vec = _Lanes(s.var, s.min, c).stmt(s.body, None)
                except _Unvectorizable:
                    return s
                serial = replace(s, extent=rest, kind=ForKind.SERIAL)
                return IfThenElse(LE(Const(c, rest.dtype), rest, "bool"), vec, serial)
        return s


def _const_int(e: Expr) -> int | None:
    return int(e.value) if isinstance(e, Const) and dtypes.is_int(e.dtype) else None


def _min_const(e: Expr) -> tuple[int, Expr] | None:
    """`Min(c, rest)` or `Min(rest, c)` with an integer constant c -> (c, rest)."""
    if isinstance(e, Min):
        if (c := _const_int(e.a)) is not None:
            return c, e.b
        if (c := _const_int(e.b)) is not None:
            return c, e.a
    return None


def _is_vec(e: Expr) -> bool:
    return dtypes.lanes(e.dtype) > 1


class _Lanes:
    """The rewrite of one loop body with `var := ramp(base, 1, n)`."""

    def __init__(self, var: Var, base: Expr, n: int):
        self.var, self.n = var, n
        self.ramp = Ramp(base, Const(1, base.dtype), n)
        self.lets: dict[int, Expr] = {}   # id(scalar Let var) -> its vector replacement
        self.memo: dict[int, Expr] = {}
        self.keep: list[Expr] = []        # keeps memo keys alive

    # ------------------------------------------------------------ statements
    def stmt(self, s: Stmt, pred: Expr | None) -> Stmt:
        if isinstance(s, Store):
            return self.store(s, pred)
        if isinstance(s, Seq):
            return seq(*(self.stmt(x, pred) for x in s.stmts))
        if isinstance(s, LetStmt):
            if pred is not None:
                raise _Unvectorizable("let under a lane-dependent condition")
            value = self.expr(s.value)
            if isinstance(value, Ramp):  # keep index arithmetic linear: inline the ramp
                self.lets[id(s.var)] = value
                return self.stmt(s.body, pred)
            var = s.var
            if _is_vec(value):
                var = Var(s.var.name, value.dtype)
                self.lets[id(s.var)] = var
            return LetStmt(var, value, self.stmt(s.body, pred))
        if isinstance(s, IfThenElse):
            cond = self.expr(s.cond)
            if not _is_vec(cond):
                then = self.stmt(s.then_body, pred)
                other = self.stmt(s.else_body, pred) if s.else_body is not None else None
                return IfThenElse(cond, then, other)
            then = self.stmt(s.then_body, self.both(pred, cond))
            other = self.stmt(s.else_body, self.both(pred, Not(cond))) if s.else_body is not None else None
            return seq(then, other)
        if isinstance(s, (For, Allocate, Barrier)):
            raise _Unvectorizable(type(s).__name__)
        raise _Unvectorizable(type(s).__name__)

    def store(self, s: Store, pred: Expr | None) -> Stmt:
        indices = tuple(self.expr(i) for i in s.indices)
        vector_dims = [i for i in indices if _is_vec(i)]
        if len(vector_dims) != 1:
            raise _Unvectorizable("store location")  # invariant (a reduction) or not one ramp
        r = vector_dims[0]
        if not (isinstance(r, Ramp) and _const_int(r.stride) not in (None, 0)):
            raise _Unvectorizable("store location")
        value = self.bcast(self.expr(s.value))
        p = pred
        if s.predicate is not None:
            p = self.both(p, self.expr(s.predicate))
        if p is not None and not _is_vec(p):
            p = Broadcast(p, self.n)
        return Store(s.buffer, indices, value, p)

    def both(self, a: Expr | None, b: Expr) -> Expr:
        if a is None:
            return b
        a, b = self.bcast(a), self.bcast(b)
        return And(a, b, a.dtype)

    # ------------------------------------------------------------ expressions
    def bcast(self, e: Expr) -> Expr:
        return e if _is_vec(e) else Broadcast(e, self.n)

    def expr(self, e: Expr) -> Expr:
        hit = self.memo.get(id(e))
        if hit is None:
            hit = self.memo[id(e)] = self._expr(e)
            self.keep.append(e)
        return hit

    def _expr(self, e: Expr) -> Expr:
        n = self.n
        if isinstance(e, Var):
            return self.ramp if e is self.var else self.lets.get(id(e), e)
        if isinstance(e, Const):
            return e
        if isinstance(e, (Ramp, Broadcast)):
            raise _Unvectorizable("nested vector")
        if isinstance(e, BufferLoad):
            idx = tuple(self.expr(i) for i in e.indices)
            if not any(_is_vec(i) for i in idx):
                return e if all(a is b for a, b in zip(idx, e.indices)) else BufferLoad(e.buffer, idx, e.dtype)
            return BufferLoad(e.buffer, idx, dtypes.with_lanes(e.dtype, n))
        if isinstance(e, BinaryOp):
            return self.binary(e)
        if isinstance(e, Not):
            a = self.expr(e.a)
            return e if a is e.a else Not(a)
        if isinstance(e, Select):
            c, t, f = self.expr(e.cond), self.expr(e.true_value), self.expr(e.false_value)
            if not (_is_vec(c) or _is_vec(t) or _is_vec(f)):
                same = c is e.cond and t is e.true_value and f is e.false_value
                return e if same else Select(c, t, f)
            return Select(c, self.bcast(t), self.bcast(f))
        if isinstance(e, Cast):
            v = self.expr(e.value)
            if not _is_vec(v):
                return e if v is e.value else Cast(v, e.dtype)
            if isinstance(v, Ramp) and dtypes.is_int(e.dtype) and dtypes.is_int(v.base.dtype):
                return Ramp(Cast(v.base, e.dtype), Cast(v.stride, e.dtype), n)
            return Cast(v, dtypes.with_lanes(e.dtype, n))
        if isinstance(e, Call):
            args = tuple(self.expr(a) for a in e.args)
            if not any(_is_vec(a) for a in args):
                return e if all(a is b for a, b in zip(args, e.args)) else Call(e.name, args, e.dtype)
            return Call(e.name, tuple(self.bcast(a) for a in args), dtypes.with_lanes(e.dtype, n))
        if isinstance(e, Let):
            value = self.expr(e.value)
            if isinstance(value, Ramp):
                self.lets[id(e.var)] = value
                return self.expr(e.body)
            var = e.var
            if _is_vec(value):
                var = Var(e.var.name, value.dtype)
                self.lets[id(e.var)] = var
            body = self.expr(e.body)
            return Let(var, value, body)
        raise _Unvectorizable(type(e).__name__)

    def binary(self, e: BinaryOp) -> Expr:
        a, b = self.expr(e.a), self.expr(e.b)
        va, vb = _is_vec(a), _is_vec(b)
        if not va and not vb:
            return e if a is e.a and b is e.b else type(e)(a, b, e.dtype)
        ra, rb = isinstance(a, Ramp), isinstance(b, Ramp)
        if isinstance(e, (Add, Sub)) and (ra or not va) and (rb or not vb) and dtypes.is_int(e.dtype):
            cls = type(e)
            base = _fold(cls, a.base if ra else a, b.base if rb else b)  # type: ignore[union-attr]
            zero = Const(0, e.dtype)
            stride = _fold(cls, a.stride if ra else zero, b.stride if rb else zero)  # type: ignore[union-attr]
            return Ramp(base, stride, self.n)
        if isinstance(e, Mul) and dtypes.is_int(e.dtype) and ((ra and not vb) or (rb and not va)):
            r, s = (a, b) if ra else (b, a)
            return Ramp(_fold(Mul, r.base, s), _fold(Mul, r.stride, s), self.n)  # type: ignore[union-attr]
        dtype = e.dtype
        if isinstance(e, (EQ, NE, LT, LE, GT, GE, And, Or)):
            dtype = "bool"
        return type(e)(self.bcast(a), self.bcast(b), dtypes.with_lanes(dtype, self.n))


def _fold(cls: type[BinaryOp], a: Expr, b: Expr) -> Expr:
    """`a op b`, folded when both are integer constants and simplified around 0 and 1."""
    if isinstance(a, Const) and isinstance(b, Const):
        v = {Add: a.value + b.value, Sub: a.value - b.value, Mul: a.value * b.value}[cls]  # type: ignore[operator]
        return Const(v, a.dtype)
    if (cls is Add and isinstance(b, Const) and b.value == 0) or (cls is Sub and isinstance(b, Const) and b.value == 0):
        return a
    if cls is Add and isinstance(a, Const) and a.value == 0:
        return b
    if cls is Mul and isinstance(b, Const) and b.value == 1:
        return a
    if cls is Mul and isinstance(a, Const) and a.value == 1:
        return b
    return cls(a, b, a.dtype)


vectorize_loops = vectorize  # the name tex.ir.transform.pipeline imports
