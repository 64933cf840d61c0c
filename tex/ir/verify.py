"""Well-formedness of a PrimFunc: every variable and buffer is defined where it is used.

Run after every pass in tests (`TEX_DEBUG=verify` runs it in the pipeline too). Violations are
compiler bugs, not user errors, so they raise AssertionError with the offending statement.
"""

from __future__ import annotations

from tex.ir.nodes import Allocate, Buffer, BufferLoad, For, IfThenElse, LetStmt, PrimFunc, Seq, Stmt, Store
from tex.lang import dtypes
from tex.lang.expr import Expr, Let, Var
from tex.lang.functor import collect


def verify(func: PrimFunc) -> None:
    """Raise AssertionError naming the first ill-formed statement of `func`."""
    vars_ = {id(p) for p in func.params if isinstance(p, Var)}
    bufs = {id(p) for p in func.params if isinstance(p, Buffer)}
    for p in func.params:
        if isinstance(p, Buffer):
            _expr(p.shape, vars_, bufs, f"shape of {p.name}")
    _stmt(func.body, vars_, bufs)


def _expr(e: object, vars_: set[int], bufs: set[int], where: object) -> None:
    lets = {id(n.var) for n in collect(e, lambda n: isinstance(n, Let))}
    for v in collect(e, lambda n: isinstance(n, Var)):
        assert id(v) in vars_ or id(v) in lets, f"variable '{v.name}' used outside its scope in: {where}"
    for ld in collect(e, lambda n: isinstance(n, BufferLoad)):
        assert id(ld.buffer) in bufs, f"buffer '{ld.buffer.name}' read outside its allocation in: {where}"
        assert len(ld.indices) == ld.buffer.ndim, f"'{ld.buffer.name}' read with {len(ld.indices)} indices: {where}"
        assert dtypes.element(ld.dtype) == ld.buffer.dtype, f"'{ld.buffer.name}' read as {ld.dtype}: {where}"


def _stmt(s: Stmt, vars_: set[int], bufs: set[int]) -> None:
    if isinstance(s, Seq):
        for x in s.stmts:
            _stmt(x, vars_, bufs)
    elif isinstance(s, For):
        _expr((s.min, s.extent), vars_, bufs, f"bounds of loop {s.var.name}")
        assert id(s.var) not in vars_, f"loop variable '{s.var.name}' defined twice"
        _stmt(s.body, vars_ | {id(s.var)}, bufs)
    elif isinstance(s, Store):
        assert id(s.buffer) in bufs, f"buffer '{s.buffer.name}' written outside its allocation"
        assert len(s.indices) == s.buffer.ndim, f"'{s.buffer.name}' written with {len(s.indices)} indices"
        assert dtypes.element(s.value.dtype) == s.buffer.dtype, \
            f"'{s.buffer.name}' ({s.buffer.dtype}) stored a {s.value.dtype} value"
        _expr((s.indices, s.value, s.predicate), vars_, bufs, s)
    elif isinstance(s, IfThenElse):
        _expr(s.cond, vars_, bufs, f"if {s.cond}")
        _stmt(s.then_body, vars_, bufs)
        if s.else_body is not None:
            _stmt(s.else_body, vars_, bufs)
    elif isinstance(s, Allocate):
        _expr(s.buffer.shape, vars_, bufs, f"shape of {s.buffer.name}")
        _stmt(s.body, vars_, bufs | {id(s.buffer)})
    elif isinstance(s, LetStmt):
        _expr(s.value, vars_, bufs, f"{s.var.name} = {s.value}")
        _stmt(s.body, vars_ | {id(s.var)}, bufs)
    elif isinstance(s, Expr):
        raise AssertionError(f"an expression where a statement belongs: {s}")
