"""Loop IR -> LLVM IR with llvmlite's IRBuilder.

The entry function is `i32 <name>(T* noalias A, ..., iN n, ...)`: one pointer per Buffer parameter in
`func.params` order, one scalar per Var parameter, then one trailing scalar per shape variable that is
not a parameter (the runtime binds it from the arrays' shapes). It returns 0, or -1 when a heap
allocation failed. `<name>__pyobj` takes numpy array objects instead of pointers (the runtime's fast path).

Indices stay multi-dimensional until here: `B[i, j]` is `B + (i * shape[1] + j)` in i64 arithmetic.
A vector access has one Ramp index: a stride-1 Ramp in the last dimension is one vector load/store,
anything else a gather/scatter. Inside a predicated vector store or a lane-dependent select, loads are
masked by the predicate (`self.mask`), so a lane that is off never touches memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llvmlite import ir

from tex.errors import BuildError
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
from tex.lang import dtypes
from tex.lang.expr import (
    BinaryOp,
    Call,
    Cast,
    Const,
    Expr,
    Let,
    Not,
    Select,
    Var,
)
from tex.lang.functor import collect
from tex.targets.llvm import arith
from tex.targets.llvm import intrinsics as intr
from tex.targets.llvm.irutil import (
    I1,
    I8,
    I8P,
    I32,
    I64,
    const,
    for_range,
    iota,
    ir_type,
    lanes_of,
    loop_id,
    mem_align,
    pointer_attrs,
    splat,
)
from tex.targets.llvm.parallel import emit_parallel_for
from tex.targets.llvm.vecmath import VectorMath

STACK_LIMIT = 64 * 1024   # bytes: constant-size allocations up to this live on the stack
UNROLL_LIMIT = 64         # UNROLLED loops with a constant extent up to this are unrolled here (else LLVM)
ALLOC_ALIGN = 64


@dataclass(frozen=True)
class Options:
    """What the codegen needs to know about the process it compiles for."""

    num_threads: int = 0            # for GOMP_parallel; 0 = libgomp's default
    parallel: bool = True           # libgomp is loadable; otherwise parallel loops run serially
    fork_flag: int | None = None    # address of gomp's fork guard (None: call GOMP_parallel unconditionally)
    f64_to_f16: bool = True         # __truncdfhf2 resolves: double -> half in one rounding
    pyobj_data_offset: int | None = None  # offset of `data` in a numpy array object, for <name>__pyobj
    vector_math: VectorMath | None = None  # libmvec for vector exp/log/tanh/erf/pow


@dataclass
class FnState:
    """Per-LLVM-function state: builders, and what each Var / Buffer is bound to."""

    fn: ir.Function
    entry: ir.IRBuilder             # at the end of the entry block: allocas go here
    b: ir.IRBuilder
    first: ir.Block                 # the block the entry block branches to when the function is done
    vars: dict[int, ir.Value] = field(default_factory=dict)
    buffers: dict[int, ir.Value] = field(default_factory=dict)
    in_parallel: bool = False
    fail: ir.Block | None = None    # `ret i32 -1`, entry function only


@dataclass(frozen=True)
class Signature:
    """The entry function's parameters: buffers and scalars in `func.params` order, then shape vars."""

    params: tuple[Buffer | Var, ...]
    extra: tuple[Var, ...]          # shape variables that are not parameters, appended as scalars

    @property
    def all(self) -> tuple[Buffer | Var, ...]:
        return self.params + self.extra


def signature(func: PrimFunc) -> Signature:
    """The entry signature of `func`; BuildError for a free variable the runtime could not supply."""
    params = func.params
    known = {id(p) for p in params if isinstance(p, Var)}
    extra: list[Var] = []
    for p in params:
        if isinstance(p, Buffer):
            for v in collect(p.shape, lambda n: isinstance(n, Var)):
                if id(v) not in known:
                    known.add(id(v))
                    extra.append(v)
    return Signature(params, tuple(extra))


class CodeGen:
    """Builds one `ir.Module` for one PrimFunc: `CodeGen(func, options).build()`."""

    def __init__(self, func: PrimFunc, options: Options = Options(), symbol: str | None = None):
        self.func, self.options = func, options
        self.symbol = symbol or func.name  # the entry's LLVM name
        self.sig = signature(func)
        self.module = ir.Module(name=func.name)
        self.mask: ir.Value | None = None   # lanes of the vector statement being emitted that are on
        self.n_parallel = 0
        self._methods: dict[type, Callable[[Any], Any]] = {}
        self._has_load: dict[int, bool] = {}
        self.f: FnState

    # ------------------------------------------------------------ functions
    def build(self) -> ir.Module:
        func, sig = self.func, self.sig
        argtys = [_param_type(p) for p in sig.all]
        fn = ir.Function(self.module, ir.FunctionType(I32, argtys), name=self.symbol)
        fn.attributes.add("nounwind")
        fn.attributes.add("noinline")
        for arg, p in zip(fn.args, sig.all):
            arg.name = p.name
            if isinstance(p, Buffer):
                pointer_attrs(arg, p, static_size=True)
        self.f = self.new_function(fn, in_parallel=False)
        for arg, p in zip(fn.args, sig.all):
            self.bind_param(p, arg)
        self.stmt(func.body)
        self.f.b.ret(I32(0))
        self.finish_function(self.f)
        if self.options.pyobj_data_offset is not None:
            self.pyobj_wrapper(fn)
        return self.module

    def new_function(self, fn: ir.Function, in_parallel: bool) -> FnState:
        entry = fn.append_basic_block("entry")
        first = fn.append_basic_block("start")
        return FnState(fn, ir.IRBuilder(entry), ir.IRBuilder(first), first, in_parallel=in_parallel)

    def finish_function(self, st: FnState) -> None:
        st.entry.branch(st.first)

    def bind_param(self, p: Buffer | Var, arg: ir.Value) -> None:
        if isinstance(p, Buffer):
            self.f.buffers[id(p)] = arg
        elif p.dtype == "bool":
            self.f.vars[id(p)] = self.f.b.icmp_unsigned("!=", arg, I8(0))
        elif p.dtype == "float16":
            self.f.vars[id(p)] = self.f.b.fptrunc(arg, ir_type("float16"))
        else:
            self.f.vars[id(p)] = arg

    def pyobj_wrapper(self, fn: ir.Function) -> None:
        """`<name>__pyobj(PyArrayObject* A, ..., scalars)`: reads each array's data pointer, calls the kernel."""
        sig = self.sig
        argtys = [I8P if isinstance(p, Buffer) else t for p, t in zip(sig.all, fn.function_type.args)]
        w = ir.Function(self.module, ir.FunctionType(I32, argtys), name=f"{self.symbol}__pyobj")
        w.attributes.add("nounwind")
        b = ir.IRBuilder(w.append_basic_block("entry"))
        args = []
        for arg, p, t in zip(w.args, sig.all, fn.function_type.args):
            if isinstance(p, Buffer):
                slot = b.bitcast(b.gep(arg, [I64(self.options.pyobj_data_offset)]), I8P.as_pointer())
                args.append(b.bitcast(b.load(slot, align=8), t))
            else:
                args.append(arg)
        b.ret(b.call(fn, args))

    # ------------------------------------------------------------ statements
    @property
    def b(self) -> ir.IRBuilder:
        return self.f.b

    def stmt(self, s: Stmt) -> None:
        self._dispatch(s, "s_")(s)

    def s_Seq(self, s: Seq) -> None:
        for x in s.stmts:
            self.stmt(x)

    def s_Barrier(self, s: Barrier) -> None:
        pass  # one thread per work item on the CPU: nothing to wait for

    def s_LetStmt(self, s: LetStmt) -> None:
        with self.bound(s.var, self.expr(s.value)):
            self.stmt(s.body)

    def s_IfThenElse(self, s: IfThenElse) -> None:
        cond = self.expr(s.cond)
        if lanes_of(cond) > 1:
            raise BuildError(f"{self.func.name}: `if {s.cond}` has a vector condition; vectorize turns those "
                             "into store predicates")
        if s.else_body is None:
            with self.b.if_then(cond):
                self.stmt(s.then_body)
        else:
            with self.b.if_else(cond) as (then, other):
                with then:
                    self.stmt(s.then_body)
                with other:
                    self.stmt(s.else_body)

    def s_For(self, s: For) -> None:
        if s.kind is ForKind.THREAD_BINDING:
            raise NotImplementedError(
                f"{self.func.name}: loop '{s.var.name}' is bound to {s.thread_tag or 'a GPU thread'}; "
                "the llvm target runs on the CPU and has no thread bindings: build for 'opencl' or remove bind()"
            )
        if s.kind is ForKind.PARALLEL and not self.f.in_parallel and self.options.parallel:
            emit_parallel_for(self, s)
            return
        t = ir_type(s.var.dtype)
        lo = self.typed(s.min, s.var.dtype)
        n = _int_const(s.extent)
        if s.kind is ForKind.UNROLLED and n is not None and n <= UNROLL_LIMIT:
            for k in range(n):
                iv = lo if k == 0 else self.b.add(lo, ir.Constant(t, k), flags=["nsw"])
                with self.bound(s.var, iv):
                    self.stmt(s.body)
            return
        hi = self.b.add(lo, self.typed(s.extent, s.var.dtype), flags=["nsw"])
        self.serial_loop(s, lo, hi, self._loop_hints(s, n))

    def serial_loop(self, s: For, lo: ir.Value, hi: ir.Value, md: Any = None) -> None:
        with for_range(self.b, lo, hi, s.var.name, md) as i:
            with self.bound(s.var, i):
                self.stmt(s.body)

    def _loop_hints(self, s: For, n: int | None) -> Any:
        if s.kind is ForKind.VECTORIZED:  # a loop the vectorize pass left: ask LLVM to vectorize it
            hints: list[tuple[str, int | None]] = [("llvm.loop.vectorize.enable", 1)]
            if n is not None and 2 <= n <= 64 and n & (n - 1) == 0:
                hints.append(("llvm.loop.vectorize.width", n))
            return loop_id(self.module, hints)
        if s.kind is ForKind.UNROLLED:
            return loop_id(self.module, [("llvm.loop.unroll.full", None) if n is not None
                                         else ("llvm.loop.unroll.enable", 1)])
        return None

    def s_Allocate(self, s: Allocate) -> None:
        buf = s.buffer
        mt = ir_type(buf.dtype, memory=True)
        dims = [_int_const(d) for d in buf.shape]
        count = math.prod(dims) if all(d is not None for d in dims) else None  # type: ignore[arg-type]
        size = mem_align(buf.dtype)
        if count is not None and count * size <= STACK_LIMIT:
            ptr = self.f.entry.alloca(mt, size=I64(max(count, 1)), name=buf.name)
            ptr.align = ALLOC_ALIGN
            with self.bound_buffer(buf, ptr):
                self.stmt(s.body)
            return
        b = self.b
        nbytes = I64(size)
        for d in buf.shape:
            nbytes = b.mul(nbytes, self.typed(d, "int64"))
        nbytes = b.and_(b.add(nbytes, I64(2 * ALLOC_ALIGN - 1)), I64(-ALLOC_ALIGN))  # > 0, a multiple of 64
        m = self.module
        raw = b.call(intr.declare(m, "aligned_alloc", I8P, [I64, I64]), [I64(ALLOC_ALIGN), nbytes], name=buf.name)
        if self.f.fail is None and not self.f.in_parallel:
            self.f.fail = self.f.fn.append_basic_block("alloc_failed")
            ir.IRBuilder(self.f.fail).ret(I32(-1))
        if not self.f.in_parallel:
            ok = b.append_basic_block(f"{buf.name}.ok")
            b.cbranch(b.icmp_unsigned("==", raw, ir.Constant(I8P, None)), self.f.fail, ok)
            b.position_at_end(ok)
        with self.bound_buffer(buf, b.bitcast(raw, mt.as_pointer())):
            self.stmt(s.body)
        self.b.call(intr.declare(m, "free", ir.VoidType(), [I8P]), [raw])

    def s_Store(self, s: Store) -> None:
        pred = s.predicate
        if pred is not None and dtypes.lanes(pred.dtype) == 1:
            with self.b.if_then(self.expr(pred)):
                self.store(s, None)
        else:
            self.store(s, self.expr(pred) if pred is not None else None)

    def store(self, s: Store, mask: ir.Value | None) -> None:
        n = max([dtypes.lanes(s.value.dtype)] + [dtypes.lanes(i.dtype) for i in s.indices])
        outer, self.mask = self.mask, mask
        try:
            value = self.expr(s.value)
            kind, ptr = self.address(s.buffer, s.indices, n)
        finally:
            self.mask = outer
        b, buf = self.b, s.buffer
        if n > 1:
            value = splat(b, value, n)
        if buf.dtype == "bool":
            value = b.zext(value, ir_type(dtypes.with_lanes("bool", n), memory=True))
        align = mem_align(buf.dtype)
        if kind == "scalar":
            if n > 1:
                raise BuildError(f"{self.func.name}: store of a {n}-lane vector into one element of '{buf.name}'")
            b.store(value, ptr, align=align)
        elif kind == "contiguous":
            if mask is None:
                b.store(value, b.bitcast(ptr, value.type.as_pointer()), align=align)
            else:
                intr.masked_store(b, value, ptr, align, mask)
        else:
            intr.scatter(b, value, ptr, align, mask if mask is not None else const("bool", True, n))

    # ------------------------------------------------------------ addresses
    def address(self, buf: Buffer, indices: tuple[Expr, ...], n: int) -> tuple[str, ir.Value]:
        """Where `buf[indices]` lives: ("scalar", T*), ("contiguous", T* to lane 0) or ("gather", <n x T*>)."""
        if len(indices) != len(buf.shape):
            raise BuildError(f"{self.func.name}: '{buf.name}' has {len(buf.shape)} dimensions, "
                             f"accessed with {len(indices)} indices")
        base = self.buffer_ptr(buf)
        b = self.b
        dims = [self.typed(d, "int64") for d in buf.shape]
        inbounds = self.mask is None
        parts = [_split_index(i) for i in indices]
        if all(p is not None for p in parts):
            off: ir.Value = I64(0)
            for k, p in enumerate(parts):
                off = _iadd(b, _imul(b, off, dims[k]) if k else off, self.typed(p[0], "int64"))  # type: ignore[index]
            strides = [p[1] for p in parts]  # type: ignore[index]
            if not any(strides):
                return "scalar", b.gep(base, [off], inbounds=inbounds)
            if not any(strides[:-1]) and strides[-1] == 1:
                return "contiguous", b.gep(base, [off], inbounds=inbounds)
            vec = splat(b, off, n)
            for k, st in enumerate(strides):
                if st:
                    dstride: ir.Value = I64(1)
                    for d in dims[k + 1:]:
                        dstride = _imul(b, dstride, d)
                    vec = b.add(vec, b.mul(splat(b, dstride, n), iota(I64, n, st)))
            return "gather", intr.vector_gep(b, base, vec)
        vec = None
        for k, i in enumerate(indices):
            iv = splat(b, self.typed(i, dtypes.with_lanes("int64", dtypes.lanes(i.dtype))), n)
            vec = iv if vec is None else b.add(b.mul(vec, splat(b, dims[k], n)), iv)
        return "gather", intr.vector_gep(b, base, vec)

    def buffer_ptr(self, buf: Buffer) -> ir.Value:
        p = self.f.buffers.get(id(buf))
        if p is None:
            raise BuildError(f"{self.func.name}: buffer '{buf.name}' is used outside its allocation "
                             "and is not a parameter")
        return p

    # ------------------------------------------------------------ expressions
    def expr(self, e: Expr) -> ir.Value:
        return self._dispatch(e, "e_")(e)

    def typed(self, e: Expr, dtype: str) -> ir.Value:
        """`e` converted to `dtype` (an index expression to i64, say)."""
        return arith.cast(self.b, self.expr(e), dtypes.element(e.dtype), dtypes.element(dtype), self.options.f64_to_f16)

    def e_Const(self, e: Const) -> ir.Value:
        return const(e.dtype, e.value)

    def e_Var(self, e: Var) -> ir.Value:
        v = self.f.vars.get(id(e))
        if v is None:
            raise BuildError(f"{self.func.name}: variable '{e.name}' is used but is not a parameter, "
                             "loop variable or let variable in scope")
        return v

    def e_Ramp(self, e: Ramp) -> ir.Value:
        base = self.expr(e.base)
        s = _int_const(e.stride)
        if s is not None:
            return self.b.add(splat(self.b, base, e.lanes), iota(base.type, e.lanes, s))
        stride = self.typed(e.stride, e.base.dtype)
        return self.b.add(splat(self.b, base, e.lanes),
                          self.b.mul(splat(self.b, stride, e.lanes), iota(base.type, e.lanes)))

    def e_Broadcast(self, e: Broadcast) -> ir.Value:
        return splat(self.b, self.expr(e.value), e.lanes)

    def e_Let(self, e: Let) -> ir.Value:
        with self.bound(e.var, self.expr(e.value)):
            return self.expr(e.body)

    def e_Cast(self, e: Cast) -> ir.Value:
        return arith.cast(self.b, self.expr(e.value), dtypes.element(e.value.dtype), dtypes.element(e.dtype),
                          self.options.f64_to_f16)

    def e_Not(self, e: Not) -> ir.Value:
        return self.b.not_(self.expr(e.a))

    def e_Call(self, e: Call) -> ir.Value:
        args = [self.expr(a) for a in e.args]
        n = max(lanes_of(a) for a in args)
        args = [splat(self.b, a, n) if n > 1 else a for a in args]
        return intr.math_call(self.b, e.name, args, dtypes.element(e.dtype), self.options.vector_math)

    def e_Select(self, e: Select) -> ir.Value:
        b = self.b
        cond = self.expr(e.cond)
        lazy = self.has_load(e.true_value) or self.has_load(e.false_value)
        if lanes_of(cond) == 1 and lazy:  # a load in an arm may be out of bounds when the arm is not taken
            with b.if_else(cond) as (then, other):
                with then:
                    t, tb = self.expr(e.true_value), b.block
                with other:
                    f, fb = self.expr(e.false_value), b.block
            t, f = self.same_lanes(t, f)
            phi = b.phi(t.type)
            phi.add_incoming(t, tb)
            phi.add_incoming(f, fb)
            return phi
        if lanes_of(cond) > 1 and lazy:
            t = self.masked(self.both(cond), e.true_value)
            f = self.masked(self.both(b.not_(cond)), e.false_value)
        else:
            t, f = self.expr(e.true_value), self.expr(e.false_value)
        t, f = self.same_lanes(t, f)
        if lanes_of(cond) > 1:
            t, f = splat(b, t, lanes_of(cond)), splat(b, f, lanes_of(cond))
        return b.select(cond, t, f)

    def e_BufferLoad(self, e: BufferLoad) -> ir.Value:
        n = dtypes.lanes(e.dtype)
        buf = e.buffer
        kind, ptr = self.address(buf, e.indices, n)
        b, align = self.b, mem_align(buf.dtype)
        if kind == "scalar" and self.mask is not None:  # one element, read only if some lane is on
            mt = self.mask.type
            anyon = b.call(intr.declare(b.module, f"llvm.vector.reduce.or.{intr.suffix(mt)}", I1, [mt]), [self.mask])
            t = ir_type(buf.dtype, memory=True)
            before = b.block
            with b.if_then(anyon):
                loaded, inside = b.load(ptr, align=align), b.block
            v = b.phi(t)
            v.add_incoming(loaded, inside)
            v.add_incoming(ir.Constant(t, None), before)
            if n > 1:
                v = splat(b, v, n)
        elif kind == "scalar":
            v = b.load(ptr, align=align)
            if n > 1:
                v = splat(b, v, n)
        else:
            vt = ir_type(dtypes.with_lanes(buf.dtype, n), memory=True)
            if kind == "gather":
                v = intr.gather(b, ptr, vt, align, self.mask if self.mask is not None else const("bool", True, n))
            elif self.mask is not None:
                v = intr.masked_load(b, ptr, vt, align, self.mask)
            else:
                v = b.load(b.bitcast(ptr, vt.as_pointer()), align=align)
        if buf.dtype == "bool":
            v = b.icmp_unsigned("!=", v, ir.Constant(v.type, None))
        return v

    def e_BinaryOp(self, e: BinaryOp) -> ir.Value:
        x, y = self.same_lanes(self.expr(e.a), self.expr(e.b))
        return arith.binop(self.b, type(e), x, y, dtypes.element(e.a.dtype))

    # ------------------------------------------------------------ helpers
    def same_lanes(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        nx, ny = lanes_of(x), lanes_of(y)
        if nx == ny:
            return x, y
        if nx == 1:
            return splat(self.b, x, ny), y
        if ny == 1:
            return x, splat(self.b, y, nx)
        raise BuildError(f"{self.func.name}: operands with {nx} and {ny} lanes")

    def both(self, cond: ir.Value) -> ir.Value:
        return cond if self.mask is None else self.b.and_(self.mask, cond)

    def masked(self, mask: ir.Value, e: Expr) -> ir.Value:
        outer, self.mask = self.mask, mask
        try:
            return self.expr(e)
        finally:
            self.mask = outer

    def has_load(self, e: Expr) -> bool:
        hit = self._has_load.get(id(e))
        if hit is None:
            hit = self._has_load[id(e)] = bool(collect(e, lambda n: isinstance(n, BufferLoad)))
        return hit

    def bound(self, var: Var, value: ir.Value) -> _Binding:
        return _Binding(self.f.vars, id(var), value)

    def bound_buffer(self, buf: Buffer, ptr: ir.Value) -> _Binding:
        return _Binding(self.f.buffers, id(buf), ptr)

    def _dispatch(self, node: object, prefix: str) -> Callable[[Any], Any]:
        cls = type(node)
        fn = self._methods.get(cls)
        if fn is None:
            for klass in cls.__mro__:
                fn = getattr(self, f"{prefix}{klass.__name__}", None)
                if fn is not None:
                    break
            if fn is None:
                raise BuildError(f"{self.func.name}: the llvm target cannot compile a {cls.__name__} node")
            self._methods[cls] = fn
        return fn


class _Binding:
    """`with`: bind a key in an environment, restoring what was there before on exit."""

    def __init__(self, env: dict[int, ir.Value], key: int, value: ir.Value):
        self.env, self.key, self.value = env, key, value

    def __enter__(self) -> ir.Value:
        self.old = self.env.get(self.key)
        self.env[self.key] = self.value
        return self.value

    def __exit__(self, *exc: object) -> None:
        if self.old is None:
            del self.env[self.key]
        else:
            self.env[self.key] = self.old


def _param_type(p: Buffer | Var) -> ir.Type:
    """Buffers by pointer; scalars by value, bool as i8 and float16 as float (C has no portable half)."""
    if isinstance(p, Buffer):
        return ir_type(p.dtype, memory=True).as_pointer()
    return ir_type("float32" if p.dtype == "float16" else p.dtype, memory=True)


def _int_const(e: Expr) -> int | None:
    return int(e.value) if isinstance(e, Const) and not dtypes.is_float(e.dtype) else None


def _split_index(e: Expr) -> tuple[Expr, int] | None:
    """An index as (scalar base, constant lane stride): ramp(b, s) -> (b, s); scalar/broadcast -> (x, 0)."""
    if isinstance(e, Ramp):
        s = _int_const(e.stride)
        return (e.base, s) if s is not None else None
    if isinstance(e, Broadcast):
        return e.value, 0
    return (e, 0) if dtypes.lanes(e.dtype) == 1 else None


def _imul(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    cx, cy = arith.const_value(x), arith.const_value(y)
    if cx is not None and cy is not None:
        return I64(cx * cy)
    if cx == 1:
        return y
    if cy == 1:
        return x
    return b.mul(x, y)


def _iadd(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    cx, cy = arith.const_value(x), arith.const_value(y)
    if cx is not None and cy is not None:
        return I64(cx + cy)
    if cx == 0:
        return y
    if cy == 0:
        return x
    return b.add(x, y)


__all__ = ["I1", "CodeGen", "FnState", "Options", "Signature", "signature"]
