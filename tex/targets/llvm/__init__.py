"""The LLVM CPU backend: loop IR -> LLVM IR (codegen) -> machine code in this process (jit)."""

from __future__ import annotations

import sys

from tex import config
from tex.ir.nodes import For, ForKind, PrimFunc
from tex.ir.transform import vectorize
from tex.lang.functor import collect
from tex.targets.runtime import Module, pyobj_data_offset
from tex.targets.target import Target

# The target's own loop-IR passes, in order.
PASSES = (vectorize,)


def build(func: PrimFunc, target: Target) -> Module:
    """Compile `func` for the CPU `target` and load it into this process."""
    from tex.targets.llvm import gomp, jit
    from tex.targets.llvm.codegen import CodeGen, Options

    lowered = func
    debug = config.debug_flags()
    for p in PASSES:
        lowered = p(lowered)
        if "ir" in debug:
            print(f"# after {p.__name__}\n{lowered}", file=sys.stderr)
    has_parallel = bool(collect(lowered.body, lambda n: isinstance(n, For) and n.kind is ForKind.PARALLEL))
    parallel = has_parallel and gomp.available()
    options = Options(
        num_threads=config.num_threads(),
        parallel=parallel,
        fork_flag=gomp.fork_flag_address() if parallel else None,
        f64_to_f16=jit.symbol_available("__truncdfhf2"),
        pyobj_data_offset=pyobj_data_offset(),
        vector_math=jit.vector_math(target),
    )
    # A kernel named like a symbol of this process (exp, erf, free...) would capture calls meant for it.
    symbol = f"tex_{func.name}" if jit.symbol_available(func.name) else func.name
    cg = CodeGen(lowered, options, symbol)
    text = str(cg.build())
    names = [symbol] + ([f"{symbol}__pyobj"] if options.pyobj_data_offset is not None else [])
    compiled = jit.compile_ir(text, target, names)
    if "ll" in debug:
        print(compiled.ll, file=sys.stderr)
    return Module(func, target, compiled, lowered, extra=cg.sig.extra, symbol=symbol,
                  pyobj=options.pyobj_data_offset is not None, before_call=gomp.check_forked if parallel else None)


__all__ = ["PASSES", "build"]
