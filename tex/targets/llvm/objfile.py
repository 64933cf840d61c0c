"""Loop IR -> a relocatable, position-independent object file, for linking into a shared library.

The JIT's IR bakes in facts about this process (the address of libgomp's fork guard, numpy's object
layout), so export compiles the lowered PrimFunc again without them: parallel regions call
`GOMP_parallel` unconditionally and there is no `__pyobj` entry. The object is emitted for the build's
target with `reloc=pic`, so `cc -shared` can link it.
"""

from __future__ import annotations

from dataclasses import dataclass

import llvmlite.binding as llvm

from tex.errors import BuildError
from tex.ir.nodes import For, ForKind, PrimFunc
from tex.lang.expr import Var
from tex.lang.functor import collect
from tex.targets.target import Target


@dataclass(frozen=True)
class ObjectCode:
    """One kernel's object file and what it needs from the system at link time."""

    symbol: str
    data: bytes                  # ELF relocatable object
    ll: str                      # the optimized LLVM IR it was emitted from
    externals: tuple[str, ...]   # functions it calls that the linker must resolve (expf, GOMP_parallel, ...)
    extra: tuple[Var, ...]       # trailing shape-variable arguments of the entry


def emit_object(lowered: PrimFunc, target: Target, symbol: str) -> ObjectCode:
    """Compile the (target-pass-lowered) `lowered` into a PIC object whose entry is `symbol`."""
    from tex.targets.llvm import gomp, jit
    from tex.targets.llvm.codegen import CodeGen, Options

    has_parallel = bool(collect(lowered.body, lambda n: isinstance(n, For) and n.kind is ForKind.PARALLEL))
    options = Options(
        num_threads=0,                 # libgomp's default (OMP_NUM_THREADS, else all cores) in the host program
        parallel=has_parallel and gomp.available(),
        fork_flag=None,
        f64_to_f16=jit.symbol_available("__truncdfhf2"),
        pyobj_data_offset=None,
        vector_math=jit.vector_math(target),
    )
    cg = CodeGen(lowered, options, symbol)
    text = str(cg.build())
    with jit._LOCK:
        mod = jit.optimize(text, target)
        externals = tuple(sorted(f.name for f in mod.functions
                                 if f.is_declaration and not f.name.startswith("llvm.")))
        ll = str(mod)
        data = bytes(_pic_machine(target).emit_object(mod))
    return ObjectCode(symbol, data, ll, externals, cg.sig.extra)


def _pic_machine(target: Target) -> llvm.TargetMachine:
    try:
        t = llvm.Target.from_triple(target.llvm_triple())
    except RuntimeError as e:
        raise BuildError(f"target '{target}': LLVM has no backend for triple {target.llvm_triple()!r}: {e}") from None
    return t.create_target_machine(cpu=target.llvm_cpu(), features=target.llvm_features(), opt=3,
                                   reloc="pic", codemodel="default")
