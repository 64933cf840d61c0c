"""Small llvmlite helpers: dtype -> LLVM type, constants, splats, counted loops with loop metadata.

Registers and memory differ only for bool: `i1` in registers, `i8` in memory (as numpy stores it).
A loop-IR vector dtype `float32x8` is `<8 x float>`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

from llvmlite import ir

from tex.ir.nodes import Buffer
from tex.lang import dtypes
from tex.lang.expr import Const, Expr

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
VOID = ir.VoidType()
I8P = I8.as_pointer()

_SCALAR: dict[str, ir.Type] = {
    "float16": ir.HalfType(), "float32": ir.FloatType(), "float64": ir.DoubleType(),
    "int8": I8, "int16": ir.IntType(16), "int32": I32, "int64": I64, "uint8": I8, "bool": I1,
}


def ir_type(dtype: str, memory: bool = False) -> ir.Type:
    """The LLVM type of a (possibly vector) dtype; `memory` stores bool as i8."""
    elem = dtypes.element(dtype)
    t = I8 if memory and elem == "bool" else _SCALAR[elem]
    n = dtypes.lanes(dtype)
    return ir.VectorType(t, n) if n > 1 else t


def lanes_of(v: ir.Value) -> int:
    return v.type.count if isinstance(v.type, ir.VectorType) else 1


def const(dtype: str, value: int | float | bool, n: int = 1) -> ir.Constant:
    """A constant of the element type of `dtype`, splatted to `n` lanes when n > 1."""
    elem = dtypes.element(dtype)
    t = _SCALAR[elem]
    if dtypes.is_float(elem):
        v: int | float | bool = float(value)
    elif elem == "bool":
        v = 1 if value else 0
    else:
        v = _wrap(int(value), dtypes.bits(elem))
    c = ir.Constant(t, v)
    return ir.Constant(ir.VectorType(t, n), [c] * n) if n > 1 else c


def _wrap(v: int, bits: int) -> int:
    """Two's-complement wrap to a signed `bits`-bit value (LLVM prints integer constants signed)."""
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def splat(b: ir.IRBuilder, v: ir.Value, n: int) -> ir.Value:
    """`v` in all `n` lanes (returned unchanged if it already is a vector)."""
    if isinstance(v.type, ir.VectorType):
        return v
    if isinstance(v, ir.Constant):
        return ir.Constant(ir.VectorType(v.type, n), [v] * n)
    vt = ir.VectorType(v.type, n)
    one = b.insert_element(ir.Constant(vt, None), v, I32(0))
    return b.shuffle_vector(one, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, n), [0] * n))


def iota(t: ir.Type, n: int, stride: int = 1) -> ir.Constant:
    """The constant vector <0, s, 2s, ...> of integer type `t`."""
    return ir.Constant(ir.VectorType(t, n), [ir.Constant(t, _wrap(k * stride, t.width)) for k in range(n)])


class LoopID(ir.values.MDValue):
    """A self-referential `distinct !{!self, ...}` loop ID, which llvmlite's add_metadata cannot express."""

    def descr(self, buf: list[str]) -> None:
        ops = ", ".join([self.get_reference()] + [op.get_reference() for op in self.operands])
        buf += (f"distinct !{{{ops}}}", "\n")


def loop_id(module: ir.Module, hints: list[tuple[str, int | None]]) -> LoopID:
    """`!llvm.loop` metadata from hints such as ("llvm.loop.vectorize.enable", 1), ("llvm.loop.unroll.full", None)."""
    ops = []
    for key, value in hints:
        items: list[ir.Value] = [ir.MetaDataString(module, key)]
        if value is not None:
            items.append(ir.Constant(I1 if key.endswith(".enable") else I32, value))
        ops.append(module.add_metadata(items))
    return LoopID(module, ops, name=str(len(module.metadata)))


@contextmanager
def for_range(b: ir.IRBuilder, start: ir.Value, stop: ir.Value, name: str,
              loop_md: LoopID | None = None) -> Iterator[ir.Value]:
    """`for i in range(start, stop)` with a phi induction variable; `loop_md` goes on the back edge."""
    pre = b.block
    cond = b.append_basic_block(f"{name}.cond")
    body = b.append_basic_block(f"{name}.body")
    end = b.append_basic_block(f"{name}.end")
    b.branch(cond)
    b.position_at_end(cond)
    i = b.phi(start.type, name=name)
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), body, end)
    b.position_at_end(body)
    yield i
    nxt = b.add(i, ir.Constant(start.type, 1), name=f"{name}.next", flags=["nsw"])
    back = b.branch(cond)
    if loop_md is not None:
        back.set_metadata("llvm.loop", loop_md)
    i.add_incoming(nxt, b.block)
    b.position_at_end(end)


def pointer_attrs(arg: ir.Argument, buf: Buffer, static_size: bool) -> None:
    """noalias + captures(none) + natural alignment (+ dereferenceable bytes for a static shape)."""
    arg.add_attribute("noalias")
    arg.add_attribute("captures(none)")
    arg.attributes.align = mem_align(buf.dtype)
    dims = [_const_dim(d) for d in buf.shape]
    if static_size and all(d is not None for d in dims):
        nbytes = math.prod(dims) * mem_align(buf.dtype)  # type: ignore[arg-type]
        if nbytes > 0:
            arg.attributes.dereferenceable = nbytes


def mem_align(dtype: str) -> int:
    return 1 if dtype == "bool" else dtypes.itemsize(dtype)


def _const_dim(e: Expr) -> int | None:
    return int(e.value) if isinstance(e, Const) and not dtypes.is_float(e.dtype) else None
