"""Targets: `Target` parsing and host detection, `build_func` (loop IR -> a callable `Module`), devices."""

from __future__ import annotations

from tex.targets.devices import CPUDevice, OpenCLDevice, list_devices
from tex.targets.runtime import Module, TimeResult
from tex.targets.target import Target, TargetKind, as_target


def build_func(func: object, target: str | Target = "llvm") -> Module:
    """Compile one `PrimFunc` for `target` ("llvm", "llvm -mcpu=... -mattr=...", "opencl -device=N")."""
    from tex.ir.nodes import PrimFunc

    if not isinstance(func, PrimFunc):
        raise TypeError(f"build_func: expected a PrimFunc (the output of lowering), got {type(func).__name__}")
    t = as_target(target)
    if t.kind is TargetKind.OPENCL:
        from tex.targets import opencl

        return opencl.build(func, t)  # type: ignore[return-value]
    from tex.targets import llvm

    return llvm.build(func, t)


__all__ = ["CPUDevice", "Module", "OpenCLDevice", "Target", "TargetKind", "TimeResult", "as_target", "build_func",
           "list_devices"]
