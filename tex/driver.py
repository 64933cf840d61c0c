"""The top of the compiler: `tex.lower` and `tex.build` tie schedules to targets."""

from __future__ import annotations

from typing import Any

from tex.ir.nodes import PrimFunc
from tex.lang.expr import Var
from tex.lang.tensor import Tensor
from tex.schedule.lower import lower as _lower
from tex.schedule.schedule import Schedule


def lower(sch: Schedule, args: list[Tensor | Var], name: str = "main") -> PrimFunc:
    """The loop nest computing `sch` over `args`; `print()` it to read it."""
    return _lower(sch, args, name)


def build(sch: Schedule | PrimFunc, args: list[Tensor | Var] | None = None, target: Any = "llvm",
          name: str = "main") -> Any:
    """Compile a schedule (or an already lowered PrimFunc) into a callable Module for `target`."""
    from tex.ir.transform.pipeline import run_passes
    from tex.targets import build_func

    if isinstance(sch, PrimFunc):
        func = sch
    else:
        if args is None:
            raise TypeError("build: give the kernel's arguments (tensors in call order), e.g. build(s, [A, B, C])")
        func = _lower(sch, args, name)
    from tex.targets.target import TargetKind, as_target

    if as_target(target).kind is TargetKind.OPENCL:  # floatN where OpenCL can express it, else scalar loops
        from tex.targets.opencl.codegen import devectorize, vectorize_cl

        func = devectorize(vectorize_cl(func))
    return build_func(run_passes(func, "build"), target)
