"""The loop IR: buffers, statements and `PrimFunc`, the contract between lowering and the targets."""

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
    seq,
)

__all__ = [
    "Allocate", "Barrier", "Broadcast", "Buffer", "BufferLoad", "For", "ForKind", "IfThenElse", "LetStmt",
    "PrimFunc", "Ramp", "Seq", "Stmt", "Store", "seq",
]
