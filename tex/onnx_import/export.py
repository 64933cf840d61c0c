"""A compiled ONNX model -> one shared library: `<name>_run(inputs..., outputs...)`, weights embedded.

The execution plan (plan.py) already fixed the kernels, their order, and where every buffer lives;
this module only maps buffers to run-time places (`Ref`s) for tex/targets/export_graph.py:

    input / output buffer          -> the caller's pointer
    constant                       -> embedded bytes (.rodata)
    intermediate (storage, offset) -> the arena: storage base (64-byte aligned, in storage order) + offset
    view_of                        -> whatever its base resolves to
An output whose bytes live elsewhere (a view of an intermediate, an input or a constant) is copied last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tex.onnx_import.plan import ExecutionPlan, PlanBuffer
from tex.targets.export_graph import ALIGN, Graph, GraphIO, Ref, Space, export_graph


def plan_to_graph(plan: ExecutionPlan, name: str = "model") -> Graph:
    """The plan's steps over run-time places; raises NotImplementedError for what C cannot express here."""
    buffers = {b.id: b for b in plan.buffers}
    inter = sorted({b.storage for b in plan.buffers if b.kind == "intermediate" and b.view_of is None})
    base: dict[int, int] = {}
    arena = 0
    for s in inter:
        base[s] = arena
        arena += -(-plan.storage_sizes[s] // ALIGN) * ALIGN
    inputs = {io.buffer: i for i, io in enumerate(plan.inputs)}
    outputs = {io.buffer: i for i, io in enumerate(plan.outputs)}
    const_ids = sorted(plan.constants)
    const_index = {b: i for i, b in enumerate(const_ids)}

    def root(b: PlanBuffer) -> PlanBuffer:
        seen = set()
        while b.view_of is not None:
            if b.id in seen:
                raise ValueError(f"export: buffer '{b.name}' is a view of itself")
            seen.add(b.id)
            b = buffers[b.view_of]
        return b

    def ref(buf_id: int) -> Ref:
        v = buffers[buf_id]
        b = root(v)
        if b.id in inputs:
            return Ref(Space.INPUT, inputs[b.id])
        if b.id in outputs and b.kind == "output":
            return Ref(Space.OUTPUT, outputs[b.id])
        if b.id in const_index:
            return Ref(Space.CONST, const_index[b.id])
        if b.kind == "intermediate":
            return Ref(Space.ARENA, offset=base[b.storage] + v.offset)  # a view's offset counts from its root
        raise NotImplementedError(f"export: buffer '{b.name}' (kind {b.kind}) has no place at run time")

    steps = [(st.kernel, tuple(ref(a) for a in st.args)) for st in plan.steps]
    copies = []
    for i, io in enumerate(plan.outputs):
        r = ref(io.buffer)
        if r != Ref(Space.OUTPUT, i):
            copies.append((r, i))
    return Graph(
        name=name,
        kernels=[k.module for k in plan.kernels],
        steps=steps,
        inputs=[GraphIO(io.name, tuple(io.shape), io.dtype) for io in plan.inputs],
        outputs=[GraphIO(io.name, tuple(io.shape), io.dtype) for io in plan.outputs],
        constants=[np.ascontiguousarray(plan.constants[b], dtype=buffers[b].dtype) for b in const_ids],
        arena_bytes=arena,
        copies=copies,
    )


def export_model(plan_or_executor: Any, path: str | os.PathLike[str], name: str = "model",
                 cc: str | None = None) -> Path:
    """`exe.export_library(path)`: the plan (or an executor's `.plan`) as `path` + its header `.h`."""
    plan = plan_or_executor if isinstance(plan_or_executor, ExecutionPlan) else getattr(plan_or_executor, "plan", None)
    if not isinstance(plan, ExecutionPlan):
        raise TypeError(f"export_model: expected an ExecutionPlan or an executor with .plan, "
                        f"got {type(plan_or_executor).__name__}")
    if plan.target.split()[0] != "llvm":
        raise NotImplementedError(f"export_model: only 'llvm' models export to a shared library, got '{plan.target}'")
    fallen = [n for k in plan.kernels if k.func is None for n in k.nodes]
    if fallen:
        raise NotImplementedError(f"export_model: node(s) {', '.join(fallen)} run through onnx.reference "
                                  f"(fallback=True), which a shared library cannot hold; export a model tex fully "
                                  f"supports")
    return export_graph(plan_to_graph(plan, name), path, cc=cc)
