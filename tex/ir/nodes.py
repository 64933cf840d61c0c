"""Loop IR nodes.

Buffers are multi-dimensional, row-major and dense; indices stay multi-dimensional so that the
printed IR reads like the compute (`C[i, j]`), and codegen flattens them. A vector access has a
`Ramp` as its last index. Expression nodes come from `tex.lang.expr`; this module adds the loop
IR's own expressions (BufferLoad, Ramp, Broadcast) and the statements.
"""

from __future__ import annotations

from enum import Enum

from tex.lang import dtypes
from tex.lang.expr import Expr, Var, node


class ForKind(Enum):
    SERIAL = "serial"
    PARALLEL = "parallel"
    VECTORIZED = "vectorized"
    UNROLLED = "unrolled"
    THREAD_BINDING = "thread_binding"


@node
class Buffer:
    """A dense row-major array: a kernel argument or an allocation in `scope`.

    scope: "global" (heap or argument), "local" (registers / private memory),
    "shared" (OpenCL `__local` memory). Compared by identity.
    """

    name: str
    shape: tuple[Expr, ...]
    dtype: str
    scope: str = "global"

    _leaf = True

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return self.name


class IRExpr(Expr):
    """Loop-IR expressions print through the loop-IR printer."""

    __slots__ = ()

    def __str__(self) -> str:
        from tex.ir.printer import IRPrinter

        return IRPrinter().expr(self)


@node
class BufferLoad(IRExpr):
    buffer: Buffer
    indices: tuple[Expr, ...]
    dtype: str


@node
class Ramp(IRExpr):
    """The vector `[base, base + stride, ..., base + (lanes - 1) * stride]`."""

    base: Expr
    stride: Expr
    lanes: int

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return dtypes.with_lanes(self.base.dtype, self.lanes)


@node
class Broadcast(IRExpr):
    """`value` repeated in `lanes` lanes."""

    value: Expr
    lanes: int

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return dtypes.with_lanes(self.value.dtype, self.lanes)


class Stmt:
    __slots__ = ()

    def __str__(self) -> str:
        from tex.ir.printer import stmt_str

        return stmt_str(self)

    __hash__ = object.__hash__


@node
class For(Stmt):
    """`for var in range(min, min + extent)`; THREAD_BINDING loops carry a `thread_tag`."""

    var: Var
    min: Expr
    extent: Expr
    kind: ForKind
    body: Stmt
    thread_tag: str = ""


@node
class Store(Stmt):
    """`buffer[indices] = value`; with `predicate`, only lanes where it holds are written."""

    buffer: Buffer
    indices: tuple[Expr, ...]
    value: Expr
    predicate: Expr | None = None


@node
class IfThenElse(Stmt):
    cond: Expr
    then_body: Stmt
    else_body: Stmt | None = None


@node
class Seq(Stmt):
    stmts: tuple[Stmt, ...]


@node
class Allocate(Stmt):
    """`buffer` lives for the duration of `body`."""

    buffer: Buffer
    body: Stmt


@node
class LetStmt(Stmt):
    var: Var
    value: Expr
    body: Stmt


@node
class Barrier(Stmt):
    """A work-group barrier over `scope` memory (OpenCL); a no-op on the CPU."""

    scope: str = "shared"


@node
class PrimFunc:
    """A kernel: buffer and scalar parameters, and a body. What every target consumes."""

    name: str
    params: tuple[Buffer | Var, ...]
    body: Stmt
    attrs: tuple[tuple[str, object], ...] = ()

    def attr(self, key: str, default: object = None) -> object:
        return dict(self.attrs).get(key, default)

    def __str__(self) -> str:
        from tex.ir.printer import func_str

        return func_str(self)

    __hash__ = object.__hash__


def seq(*stmts: Stmt | None) -> Stmt:
    """A Seq of the non-empty statements, flattened; a single statement stands alone."""
    flat: list[Stmt] = []
    for s in stmts:
        if s is None:
            continue
        if isinstance(s, Seq):
            flat.extend(s.stmts)
        else:
            flat.append(s)
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))
