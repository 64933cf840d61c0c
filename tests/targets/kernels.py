"""Hand-built PrimFuncs for the target tests: a few builders over tex.ir.nodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tex.ir.nodes import Buffer, BufferLoad, For, ForKind, PrimFunc, Stmt, Store, seq
from tex.lang import dtypes
from tex.lang.expr import Const, Expr, Min, Var, binary

I64 = "int64"


def c(value: int | float | bool, dtype: str = I64) -> Const:
    return Const(value, dtype)


def var(name: str, dtype: str = I64) -> Var:
    return Var(name, dtype)


def buf(name: str, shape: Sequence[int | Expr], dtype: str = "float32", scope: str = "global") -> Buffer:
    return Buffer(name, tuple(c(s) if isinstance(s, int) else s for s in shape), dtype, scope)


def load(b: Buffer, *idx: Expr) -> BufferLoad:
    n = max(dtypes.lanes(i.dtype) for i in idx)
    return BufferLoad(b, tuple(idx), dtypes.with_lanes(b.dtype, n))


def loop(v: Var, extent: int | Expr, body: Stmt, kind: ForKind = ForKind.SERIAL, lo: int | Expr = 0) -> For:
    return For(v, c(lo) if isinstance(lo, int) else lo, c(extent) if isinstance(extent, int) else extent, kind, body)


def split(n: int, factor: int, body: Callable[[Expr], Stmt], outer: ForKind = ForKind.SERIAL,
          inner: ForKind = ForKind.VECTORIZED, name: str = "i") -> For:
    """`for io: for ii in range(min(factor, n - io*factor)): body(io*factor + ii)`, the lowering's tail form."""
    io, ii = var(f"{name}.outer"), var(f"{name}.inner")
    i = io * factor + ii
    extent: Expr = c(factor) if n % factor == 0 else binary(Min, c(factor), c(n) - io * factor)
    return For(io, c(0), c(-(-n // factor)), outer, For(ii, c(0), extent, inner, body(i)))


def map_func(name: str, in_dtypes: Sequence[str], outs: Sequence[tuple[str, Callable[..., Expr]]], n: int,
             vector: int | None = None, parallel: bool = False) -> PrimFunc:
    """Y_k[i] = fn_k(X_0[i], X_1[i], ...) for every output (dtype, fn_k); optionally split and vectorized."""
    xs = [buf(f"X{k}", (n,), dt) for k, dt in enumerate(in_dtypes)]
    ys = [buf(f"Y{k}", (n,), dt) for k, (dt, _) in enumerate(outs)]

    def body(i: Expr) -> Stmt:
        return seq(*[Store(y, (i,), fn(*[load(x, i) for x in xs])) for y, (_, fn) in zip(ys, outs)])

    outer = ForKind.PARALLEL if parallel else ForKind.SERIAL
    if vector:
        stmt: Stmt = split(n, vector, body, outer)
    else:
        i = var("i")
        stmt = loop(i, n, body(i), outer)
    return PrimFunc(name, tuple(xs + ys), stmt)
