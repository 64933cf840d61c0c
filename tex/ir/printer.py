"""Printer of the loop IR: a kernel reads like annotated Python, as TVM's lowered TIR does."""

from __future__ import annotations

from tex.ir.nodes import (
    Allocate,
    Barrier,
    Broadcast,
    Buffer,
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
)
from tex.lang.expr import Const
from tex.lang.printer import ExprPrinter

_ATOM = 10


class IRPrinter(ExprPrinter):
    def p_BufferLoad(self, e: BufferLoad) -> tuple[str, int]:
        return f"{e.buffer.name}[{', '.join(self.expr(i) for i in e.indices)}]", _ATOM

    def p_Ramp(self, e: Ramp) -> tuple[str, int]:
        return f"ramp({self.expr(e.base)}, {self.expr(e.stride)}, {e.lanes})", _ATOM

    def p_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        return f"broadcast({self.expr(e.value)}, {e.lanes})", _ATOM

    def buffer_type(self, b: Buffer) -> str:
        return f"{b.dtype}[{', '.join(self.expr(s) for s in b.shape)}]"

    def stmt(self, s: Stmt, indent: int, out: list[str]) -> None:
        pad = "  " * indent
        if isinstance(s, Seq):
            for x in s.stmts:
                self.stmt(x, indent, out)
        elif isinstance(s, For):
            rng = self.expr(s.extent) if isinstance(s.min, Const) and s.min.value == 0 else \
                f"{self.expr(s.min)}, {self.expr(s.min + s.extent)}"
            note = ""
            if s.kind is ForKind.THREAD_BINDING:
                note = f"  # {s.thread_tag}"
            elif s.kind is not ForKind.SERIAL:
                note = f"  # {s.kind.value}"
            out.append(f"{pad}for {s.var.name} in range({rng}):{note}")
            self.stmt(s.body, indent + 1, out)
        elif isinstance(s, Store):
            idx = ", ".join(self.expr(i) for i in s.indices)
            pred = f"  # if {self.expr(s.predicate)}" if s.predicate is not None else ""
            out.append(f"{pad}{s.buffer.name}[{idx}] = {self.expr(s.value)}{pred}")
        elif isinstance(s, IfThenElse):
            out.append(f"{pad}if {self.expr(s.cond)}:")
            self.stmt(s.then_body, indent + 1, out)
            if s.else_body is not None:
                out.append(f"{pad}else:")
                self.stmt(s.else_body, indent + 1, out)
        elif isinstance(s, Allocate):
            out.append(f'{pad}{s.buffer.name} = allocate({self.buffer_type(s.buffer)}, "{s.buffer.scope}")')
            self.stmt(s.body, indent, out)
        elif isinstance(s, LetStmt):
            out.append(f"{pad}{s.var.name} = {self.expr(s.value)}")
            self.stmt(s.body, indent, out)
        elif isinstance(s, Barrier):
            out.append(f"{pad}barrier({s.scope})")
        else:
            out.append(f"{pad}<{type(s).__name__}>")

    def func(self, f: PrimFunc) -> str:
        params = ", ".join(
            f"{p.name}: {self.buffer_type(p)}" if isinstance(p, Buffer) else f"{p.name}: {p.dtype}" for p in f.params
        )
        out = [f"def {f.name}({params}):"]
        self.stmt(f.body, 1, out)
        return "\n".join(out)


def stmt_str(s: Stmt) -> str:
    out: list[str] = []
    IRPrinter().stmt(s, 0, out)
    return "\n".join(out)


def func_str(f: PrimFunc) -> str:
    return IRPrinter().func(f)
