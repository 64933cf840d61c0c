"""Parallel loops on libgomp: `for v in range(min, min + n):  # parallel` is outlined and run by GOMP_parallel.

    caller:      closure = {captured pointers, captured scalars, min, n, next = 0}   (a stack struct)
                 GOMP_parallel(<f>.parK, &closure, num_threads, 0)    (or <f>.parK(&closure) in a forked child,
                                                                       see gomp.py)
    <f>.parK:    unpack the closure; chunk = max(1, ceil(n / (threads * CHUNKS_PER_THREAD)));
                 while (lo = atomic_fetch_add(&next, chunk)) < n:  run v in [min + lo, min + min(lo + chunk, n))
    <f>.parK.body(noalias pointers..., scalars..., from, to): the loop itself

Chunks are taken dynamically rather than split statically by thread number: on a machine where another
process holds a core, a static split waits for the slowest thread, a dynamic one lets the others take over.

The body is its own function so its buffer pointers are `noalias` arguments again (the closure hides
that); LLVM may inline it back, keeping the aliasing facts as scoped metadata. Captured values are the
buffers and variables the body uses that are bound outside it, including the variables in those
buffers' shapes. A parallel loop inside a parallel body runs serially.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llvmlite import ir

from tex.ir.nodes import Allocate, Buffer, BufferLoad, For, Store
from tex.lang.expr import Var
from tex.lang.functor import collect
from tex.targets.llvm.intrinsics import declare
from tex.targets.llvm.irutil import I8P, I32, I64, VOID, ir_type, pointer_attrs

CHUNKS_PER_THREAD = 4

if TYPE_CHECKING:
    from tex.targets.llvm.codegen import CodeGen


def captures(cg: CodeGen, s: For) -> tuple[list[Buffer], list[Var]]:
    """The buffers and variables `s.body` uses that are bound in the enclosing function, in first-use order."""
    bufs: dict[int, Buffer] = {}
    for n in collect(s.body, lambda n: isinstance(n, (BufferLoad, Store, Allocate))):
        bufs.setdefault(id(n.buffer), n.buffer)
    used: dict[int, Var] = {}
    for v in collect(s.body, lambda n: isinstance(n, Var)):
        used.setdefault(id(v), v)
    for buf in bufs.values():
        for v in collect(buf.shape, lambda n: isinstance(n, Var)):
            used.setdefault(id(v), v)
    f = cg.f
    return ([b for k, b in bufs.items() if k in f.buffers],
            [v for k, v in used.items() if k in f.vars and v is not s.var])


def emit_parallel_for(cg: CodeGen, s: For) -> None:
    """Outline `s` into <f>.parK and <f>.parK.body and run it on libgomp's threads (see the module doc)."""
    module, caller = cg.module, cg.f
    k = cg.n_parallel
    cg.n_parallel += 1
    name = f"{cg.symbol}.par{k}"
    bufs, vars_ = captures(cg, s)
    it = ir_type(s.var.dtype)
    lo = cg.typed(s.min, s.var.dtype)
    n = cg.typed(s.extent, s.var.dtype)
    ptrs = [caller.buffers[id(b)] for b in bufs]
    scalars = [caller.vars[id(v)] for v in vars_]

    # <f>.parK.body(pointers..., scalars..., from, to)
    body_fn = ir.Function(module, ir.FunctionType(VOID, [p.type for p in ptrs] + [x.type for x in scalars] +
                                                  [it, it]), name=f"{name}.body")
    body_fn.attributes.add("nounwind")
    for arg, buf in zip(body_fn.args, bufs):
        pointer_attrs(arg, buf, static_size=False)
    cg.f = cg.new_function(body_fn, in_parallel=True)
    for arg, buf in zip(body_fn.args, bufs):
        arg.name = buf.name
        cg.f.buffers[id(buf)] = arg
    for arg, v in zip(body_fn.args[len(bufs):], vars_):
        arg.name = v.name
        cg.f.vars[id(v)] = arg
    begin, end = body_fn.args[-2], body_fn.args[-1]
    cg.serial_loop(s, begin, end)
    cg.f.b.ret_void()
    cg.finish_function(cg.f)

    # <f>.parK(closure*): take chunks from the shared counter until none is left
    fields = ptrs + scalars + [lo, n, ir.Constant(it, 0)]
    closure_t = ir.LiteralStructType([x.type for x in fields])
    tramp = ir.Function(module, ir.FunctionType(VOID, [I8P]), name=name)
    tramp.attributes.add("nounwind")
    cg.f = st = cg.new_function(tramp, in_parallel=True)
    b = st.b
    data = b.bitcast(tramp.args[0], closure_t.as_pointer())
    vals = [b.load(b.gep(data, [I32(0), I32(i)], inbounds=True)) for i in range(len(fields) - 1)]
    counter = b.gep(data, [I32(0), I32(len(fields) - 1)], inbounds=True)
    tlo, tn = vals[-2], vals[-1]
    nt = _widen(b, b.call(declare(module, "omp_get_num_threads", I32, []), []), it)
    per = b.mul(nt, ir.Constant(it, CHUNKS_PER_THREAD))
    chunk = b.sdiv(b.add(tn, b.sub(per, ir.Constant(it, 1))), per)  # ceil(n / (threads * CHUNKS_PER_THREAD))
    chunk = b.select(b.icmp_signed("<", chunk, ir.Constant(it, 1)), ir.Constant(it, 1), chunk)
    head = b.append_basic_block("next_chunk")
    work = b.append_basic_block("work")
    done = b.append_basic_block("done")
    b.branch(head)
    b.position_at_end(head)
    first = b.atomic_rmw("add", counter, chunk, "monotonic")
    b.cbranch(b.icmp_signed("<", first, tn), work, done)
    b.position_at_end(work)
    last = _smin(b, b.add(first, chunk), tn)
    b.call(body_fn, vals[:-2] + [b.add(tlo, first), b.add(tlo, last)])
    b.branch(head)
    b.position_at_end(done)
    b.ret_void()
    cg.finish_function(st)

    # the caller: fill the closure, run the region
    cg.f = caller
    slot = caller.entry.alloca(closure_t, name=f"{name}.closure")
    b = caller.b
    for i, x in enumerate(fields):
        b.store(x, b.gep(slot, [I32(0), I32(i)], inbounds=True))
    gomp = declare(module, "GOMP_parallel", VOID, [tramp.type, I8P, I32, I32])
    data = b.bitcast(slot, I8P)
    if cg.options.fork_flag is None:
        b.call(gomp, [tramp, data, I32(cg.options.num_threads), I32(0)])
        return
    flag = b.load(ir.Constant(I64, cg.options.fork_flag).inttoptr(I32.as_pointer()), align=4)
    with b.if_else(b.icmp_unsigned("!=", flag, I32(0))) as (forked, normal):
        with forked:  # a child forked after libgomp started: its pool is gone, run the chunks here
            b.call(tramp, [data])
        with normal:
            b.call(gomp, [tramp, data, I32(cg.options.num_threads), I32(0)])


def _widen(b: ir.IRBuilder, v: ir.Value, t: ir.Type) -> ir.Value:
    return v if v.type == t else b.sext(v, t) if t.width > v.type.width else b.trunc(v, t)


def _smin(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)
