"""The OpenCL target: loop IR -> OpenCL C (codegen.py) -> pyopencl (runtime.py). pyopencl is imported lazily."""

from __future__ import annotations

import re

import numpy as np

from tex.errors import BuildError
from tex.ir.nodes import Allocate, Buffer, PrimFunc
from tex.lang.expr import Const, Var
from tex.lang.functor import collect
from tex.targets.opencl.codegen import Launch, codegen, devectorize, launch_geometry, vectorize_cl
from tex.targets.target import Target

_EXTENSION = re.compile(r"^\s*#pragma\s+OPENCL\s+EXTENSION\s+(\w+)\s*:\s*enable", re.MULTILINE)


def build(func: PrimFunc, target: Target) -> object:
    """An OpenCLModule for `func` on the target's device; limits are checked before the compiler runs."""
    from tex.targets.opencl.runtime import OpenCLModule, target_context

    func = devectorize(vectorize_cl(func))
    params = {id(p) for p in func.params}
    extra: list[Var] = []
    for p in func.params:
        if isinstance(p, Buffer):
            for d in p.shape:
                for v in collect(d, lambda n: isinstance(n, Var)):
                    if id(v) not in params and all(v is not e for e in extra):
                        extra.append(v)
    source, launch = codegen(func, tuple(extra))
    ctx = target_context(target)
    check_limits(func.name, launch, source, ctx, shared_bytes(func))
    name = source.split("void ", 1)[1].split("(", 1)[0]
    return OpenCLModule(func, target, func, source, launch, ctx, name, extra)


def shared_bytes(func: PrimFunc) -> int:
    """Bytes of `__local` memory the kernel allocates."""
    total = 0
    for a in collect(func.body, lambda n: isinstance(n, Allocate) and n.buffer.scope == "shared"):
        size = 1
        for d in a.buffer.shape:
            size *= int(d.value) if isinstance(d, Const) else 0
        total += size * np.dtype(a.buffer.dtype).itemsize
    return total


def required_extensions(source: str) -> list[str]:
    """The OpenCL extensions a kernel source enables (`#pragma OPENCL EXTENSION <name> : enable`), in order."""
    return _EXTENSION.findall(source)


def check_limits(name: str, launch: Launch, source: str, ctx: object, local_bytes: int = 0) -> None:
    """Work-group size, per-dimension sizes, local memory and fp16/fp64 support against the device:
    BuildError naming the limit."""
    if local_bytes > ctx.local_mem_size:  # type: ignore[attr-defined]
        raise BuildError(f"build({name}): shared (__local) buffers need {local_bytes} bytes, more than the device's "
                         f"local_mem_size {ctx.local_mem_size}")  # type: ignore[attr-defined]
    wg = launch.work_group_size
    if wg > ctx.max_work_group_size:  # type: ignore[attr-defined]
        raise BuildError(f"build({name}): work-group size {wg} (threadIdx extents {launch.threads}) exceeds the "
                         f"device's max_work_group_size {ctx.max_work_group_size}")  # type: ignore[attr-defined]
    for d, (t, lim) in enumerate(zip(launch.threads, ctx.max_work_item_sizes)):  # type: ignore[attr-defined]
        if t > lim:
            raise BuildError(f"build({name}): threadIdx.{'xyz'[d]} extent {t} exceeds the device's "
                             f"max_work_item_sizes[{d}] = {lim}")
    ext = required_extensions(source)
    if "cl_khr_fp16" in ext and not ctx.fp16:  # type: ignore[attr-defined]
        raise BuildError(f"build({name}): float16 needs cl_khr_fp16, which device "
                         f"'{ctx.name}' does not support")  # type: ignore[attr-defined]
    if "cl_khr_fp64" in ext and not ctx.fp64:  # type: ignore[attr-defined]
        raise BuildError(f"build({name}): float64 needs cl_khr_fp64, which device "
                         f"'{ctx.name}' does not support")  # type: ignore[attr-defined]


__all__ = ["BuildError", "Launch", "build", "check_limits", "codegen", "devectorize", "launch_geometry",
           "required_extensions", "shared_bytes", "vectorize_cl"]
