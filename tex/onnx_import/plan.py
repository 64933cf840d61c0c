"""The execution plan of a compiled model: what the graph executor runs and what the exporter consumes.

A plan is plain data: kernels (each a lowered PrimFunc plus its built Module), steps (kernel index and the
buffer ids passed to it, in the kernel's parameter order), buffers (shape, dtype, and where they live after
memory planning: `storage` id + byte `offset`), constants (buffer id -> array, fixed at compile time) and the
model's inputs/outputs (name -> buffer id). Invariant: two buffers that share a storage range are never live
at the same time, except views (`Buffer.view_of`), which alias their base on purpose (a Reshape costs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PlanKernel:
    """One compiled kernel: `func` is the lowered PrimFunc, `module` the built tex Module (callable on arrays)."""

    name: str
    func: Any            # tex.ir.nodes.PrimFunc
    module: Any          # tex.targets.runtime.Module
    nodes: tuple[str, ...] = ()   # the graph nodes fused into this kernel


@dataclass(frozen=True)
class PlanStep:
    """Call `kernels[kernel]` on the buffers `args` (buffer ids, in the kernel's parameter order)."""

    kernel: int
    args: tuple[int, ...]


@dataclass(frozen=True)
class PlanBuffer:
    """A tensor's storage: `kind` is "input" | "output" | "constant" | "intermediate".

    Intermediates share storages: bytes [offset, offset + nbytes) of storage `storage`. Inputs, outputs and
    constants each own a storage. `view_of` names the buffer whose bytes this one reuses unchanged (Reshape).
    """

    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    kind: str
    storage: int
    offset: int = 0
    view_of: int | None = None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class PlanIO:
    """A model input or output: its ONNX name, buffer id, shape and dtype."""

    name: str
    buffer: int
    shape: tuple[int, ...]
    dtype: str


@dataclass
class ExecutionPlan:
    """Everything needed to run a model without the graph: kernels, steps in order, buffers, storages."""

    kernels: list[PlanKernel]
    steps: list[PlanStep]
    buffers: list[PlanBuffer]
    storage_sizes: list[int]                       # bytes per storage id (64-byte aligned)
    constants: dict[int, np.ndarray] = field(default_factory=dict)
    inputs: list[PlanIO] = field(default_factory=list)
    outputs: list[PlanIO] = field(default_factory=list)
    target: str = "llvm"

    @property
    def intermediate_bytes(self) -> int:
        """Bytes of the shared intermediate storages (after reuse)."""
        inter = {b.storage for b in self.buffers if b.kind == "intermediate" and b.view_of is None}
        return sum(self.storage_sizes[s] for s in inter)

    def __str__(self) -> str:
        lines = [f"plan: {len(self.kernels)} kernels, {len(self.steps)} steps, {len(self.buffers)} buffers, "
                 f"{len(self.storage_sizes)} storages"]
        for st in self.steps:
            k = self.kernels[st.kernel]
            args = ", ".join(f"%{a}" for a in st.args)
            lines.append(f"  {k.name}({args})")
        return "\n".join(lines)
