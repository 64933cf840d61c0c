"""The graph executor: compile every node of an optimised graph to a kernel, plan memory, run the steps.

`compile_model(model, target)` -> `Executor`; `Executor.run({name: array}) -> {name: array}` copies the inputs
into preallocated buffers, calls each kernel's native entry with precomputed pointers (no per-call argument
checks: shapes and dtypes were fixed at compile time) and returns copies of the outputs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from tex import ops as T
from tex.driver import build
from tex.errors import OnnxImportError
from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.onnx_import import ops as onnx_ops
from tex.onnx_import.fallback import FallbackKernel, is_fallback
from tex.onnx_import.graph import Graph, Node
from tex.onnx_import.infer import lower_node, node_args
from tex.onnx_import.passes.layout import convert_layout
from tex.onnx_import.passes.memory_plan import MemoryPlan, plan_memory
from tex.onnx_import.plan import ExecutionPlan, PlanBuffer, PlanIO, PlanKernel, PlanStep
from tex.onnx_import.tasks import conv_blocks, residual_input, template_call
from tex.ops import schedule_default

ALIGN = 64


class KernelSpec:
    """What one node compiles to: schedule + args, and what to bind to each arg (a value name or a new constant)."""

    def __init__(self, sched: Any, args: list[Tensor], bindings: list[str | np.ndarray], kind: str) -> None:
        self.sched, self.args, self.bindings, self.kind = sched, args, bindings, kind


def _x86(target: str) -> bool:
    return str(target).split()[0] == "llvm"


def _template_spec(n: Node, g: Graph) -> KernelSpec | None:
    """A Conv/Gemm node through its x86 template (tasks.template_call): the tuned config under
    `apply_history_best`, else the template's default; constant weights are packed here, once."""
    import tex.ops.x86.templates  # noqa: F401  (registers the templates)
    from tex.ops.x86.conv2d import pack_conv_weight
    from tex.ops.x86.dense import pack_dense_weight
    from tex.ops.x86.group_conv2d import pack_group_conv_weight
    from tex.tune.template import lookup
    call = template_call(n, g)
    if call is None:
        return None
    name, targs = call
    ms = n.members
    head = ms[0]
    x, w = head.inputs[0], head.inputs[1]
    b = head.inputs[2] if len(head.inputs) > 2 and head.inputs[2] else ""
    wv = g.constants[w]
    # the best record of the task under apply_history_best, else the default config; a blocked conv's task
    # args carry the layouts passes/layout.py chose (tasks.template_call)
    s, args = lookup(name)(*targs)
    wshape = tuple(int(d) for d in args[1].shape)
    extra: list[str | np.ndarray] = []  # bias, shortcut
    if name in ("conv2d_nchw", "group_conv2d_nchw", "group_conv2d_pointwise"):
        if name == "conv2d_nchw":
            weight = pack_conv_weight(wv, wshape[4], wshape[5])
        elif name == "group_conv2d_nchw":
            weight = pack_group_conv_weight(wv, targs[0][1] // wv.shape[1], wshape[4], wshape[5])
        else:
            weight = np.ascontiguousarray(wv.reshape(wv.shape[0], -1))  # (O, C/groups): the same bytes
        extra = [b] if b else []
        res = residual_input(ms)
        extra += [res] if res else []
    elif name == "depthwise_conv2d_nchw":
        weight = np.ascontiguousarray(wv)
        extra = [b] if b else []
    else:
        weight = pack_dense_weight(wv, wshape[2], "NK" if head.attrs.get("transB", 0) else "KN")
        extra = [np.ascontiguousarray(g.constants[b].reshape(-1))] if b else []
    return KernelSpec(s, args, [x, weight, *extra, ms[-1].outputs[0]], name)


def _generic(n: Node, g: Graph, target: str) -> KernelSpec:
    holders: dict[str, Tensor] = {}
    order: list[str] = []
    values: dict[str, Tensor] = {}

    def make(name: str, shape: tuple[int, ...], dtype: str) -> Tensor:
        if name in values:
            return values[name]
        if name not in holders:
            holders[name] = dsl.placeholder(shape, dtype=dtype, name=f"in{len(holders)}")
            order.append(name)
        return holders[name]

    for m in n.members:
        args = node_args(m, g.types, g.constants, make)
        for o, t in zip(m.outputs, lower_node(m, args)):
            if o and (m is not n.members[-1] or o in n.outputs):
                values[o] = t
    outs = [values[o] for o in n.outputs if o]
    # an output that is a bare placeholder (Identity of an input) needs a copy stage
    outs = [dsl.compute(t.shape, lambda *i, t=t: t[i], name="copy", tag="elemwise") if t.name in
            {h.name for h in holders.values()} and t in holders.values() else t for t in outs]
    names = [t.name for t in outs]
    outs = [T.identity(t, name=f"out{k}") if names.count(t.name) > 1 else t for k, t in enumerate(outs)]
    s = schedule_default(outs, target)
    args = [holders[k] for k in order] + outs
    return KernelSpec(s, args, list(order) + [o for o in n.outputs if o], "generic")


def kernel_spec(n: Node, g: Graph, target: str) -> KernelSpec:
    if is_fallback(n):
        kernel = FallbackKernel(n, [g.types.get(i) if i else None for i in n.inputs])
        return KernelSpec(kernel, [], [i if i else None for i in n.inputs] + [o for o in n.outputs if o],
                          "onnx.reference")  # type: ignore[list-item]
    if _x86(target):
        spec = _template_spec(n, g)
        if spec is not None:
            return spec
    return _generic(n, g, target)


def _is_view(n: Node, g: Graph) -> bool:
    return n.op_type in onnx_ops.VIEWS and len([o for o in n.outputs if o]) == 1 and bool(n.inputs) and \
        g.types[n.inputs[0]][1] == g.types[n.outputs[0]][1]


def _aligned(nbytes: int) -> np.ndarray:
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    off = (-raw.ctypes.data) % ALIGN
    return raw[off:off + nbytes]


class Executor:
    """A compiled model: `run({input: array}) -> {output: array}`; `.plan` is its ExecutionPlan."""

    def __init__(self, graph: Graph, plan: ExecutionPlan, memory: MemoryPlan, compile_s: float,
                 kernel_kinds: list[str]) -> None:
        self.graph, self.plan, self.memory, self.compile_s = graph, plan, memory, compile_s
        self.kernel_kinds = kernel_kinds
        storages = [_aligned(max(sz, 1)) for sz in plan.storage_sizes]
        self.arrays: dict[int, np.ndarray] = {}
        for b in plan.buffers:
            st = storages[b.storage]
            self.arrays[b.id] = st[b.offset:b.offset + b.nbytes].view(b.dtype).reshape(b.shape)
        for bid, arr in plan.constants.items():
            self.arrays[bid][...] = arr
        self._calls = []
        for st in plan.steps:
            mod = plan.kernels[st.kernel].module
            if isinstance(mod, FallbackKernel):  # Python: it takes the arrays themselves
                arrays = [self.arrays[a] if a >= 0 else None for a in st.args]
                self._calls.append((partial(mod.run_into, arrays), (), mod))
            else:
                self._calls.append((mod._cfunc, tuple(self.arrays[a].ctypes.data for a in st.args), mod))
        self._inputs = {io.name: io for io in plan.inputs}

    @property
    def fallback_nodes(self) -> list[str]:
        """The nodes run by onnx.reference instead of compiled kernels (compile with fallback=True)."""
        return [n for k in self.plan.kernels if isinstance(k.module, FallbackKernel) for n in k.nodes]

    def profile(self, feeds: Mapping[str, Any], repeat: int = 10) -> list[tuple[str, float]]:
        """(kernel name, median seconds) of every step, in run order, over `repeat` runs on `feeds`."""
        self._feed(feeds)
        times = [[0.0] * repeat for _ in self._calls]
        for r in range(repeat):
            for k, (cfunc, ptrs, mod) in enumerate(self._calls):
                t = time.perf_counter()
                rc = cfunc(*ptrs)
                times[k][r] = time.perf_counter() - t
                if rc != 0:
                    mod._failed(rc)
        return [(self.plan.kernels[st.kernel].name, float(np.median(ts))) for st, ts in zip(self.plan.steps, times)]

    @property
    def input_names(self) -> list[str]:
        return [io.name for io in self.plan.inputs]

    @property
    def output_names(self) -> list[str]:
        return [io.name for io in self.plan.outputs]

    def _feed(self, feeds: Mapping[str, Any]) -> None:
        if not isinstance(feeds, Mapping):
            raise TypeError(f"run: expected a dict {{input name: array}}, got {type(feeds).__name__}")
        for name in feeds:
            if name not in self._inputs:
                raise ValueError(f"run: unknown input '{name}'; the model's inputs are {self.input_names}")
        for name, io in self._inputs.items():
            if name not in feeds:
                raise ValueError(f"run: missing input '{name}' (shape {io.shape}, {io.dtype})")
            a = np.asarray(feeds[name])
            if a.shape != io.shape:
                raise ValueError(f"run: input '{name}' must have shape {io.shape}, got {a.shape}")
            if a.dtype != np.dtype(io.dtype):
                raise TypeError(f"run: input '{name}' must be {io.dtype}, got {a.dtype}")
            np.copyto(self.arrays[io.buffer], a)

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run the model on `feeds`; returns fresh arrays {output name: array}."""
        self._feed(feeds)
        for cfunc, ptrs, mod in self._calls:
            rc = cfunc(*ptrs)
            if rc != 0:
                mod._failed(rc)
        return {io.name: self.arrays[io.buffer].copy() for io in self.plan.outputs}

    __call__ = run

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for k in self.kernel_kinds:
            kinds[k] = kinds.get(k, 0) + 1
        return (f"{len(self.plan.kernels)} kernels ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
                f"{len(self.plan.steps)} steps; intermediates {self.memory.planned_bytes / 2**20:.1f} MiB "
                f"(naive {self.memory.naive_bytes / 2**20:.1f} MiB, saved {self.memory.saved_bytes / 2**20:.1f} MiB); "
                f"compiled in {self.compile_s:.1f} s")

    def export_library(self, path: str, name: str = "model", cc: str | None = None) -> Any:
        """Write the model as shared library `path` + header `.h` (entry `<name>_run`); returns the library path."""
        from tex.onnx_import.export import export_model
        return export_model(self, path, name=name, cc=cc)


def _spec_key(n: Node, g: Graph) -> Any:
    from tex.onnx_import.passes.cse import _key
    parts = []
    for m in n.members:
        ins = tuple((g.types[i], _key(g.constants[i]) if i in g.constants and g.constants[i].size <= 64 else
                     ("c" if i in g.constants else "v")) if i else None for i in m.inputs)
        parts.append((m.op_type, m.opset, tuple(sorted((k, _key(v)) for k, v in m.attrs.items())), ins))
    return tuple(parts)


def concat_slots(g: Graph) -> dict[str, tuple[str, int]]:
    """Concat inputs that can be computed in place: value -> (concat output, byte offset in it).

    A Concat whose inputs are contiguous slices of its output (every dimension before the axis is 1: batch-1
    channel concats, NCHW or blocked) costs nothing when each input's kernel writes into its slice. Each input
    must be a distinct value computed by a kernel of its own (not a graph input, output, constant or view, and
    not placed in another concat); an input that is itself such a concat nests (DenseNet's growing concats).
    """
    producers = g.producers()
    slots: dict[str, tuple[str, int]] = {}
    for n in g.nodes:
        if n.op_type != "Concat" or n.fused or n.outputs[0] in g.outputs or len(set(n.inputs)) != len(n.inputs):
            continue
        shape, dtype = g.types[n.outputs[0]]
        axis = int(n.attrs.get("axis", 0)) % len(shape)
        if any(d != 1 for d in shape[:axis]):
            continue
        ok = True
        for i in n.inputs:
            p = producers.get(i)
            if (p is None or i in g.outputs or i in g.constants or i in slots or _is_view(p, g) or is_fallback(p)
                    or len([o for o in p.outputs if o]) != 1 or g.types[i][1] != dtype):
                ok = False
        if not ok:
            continue
        at = 0
        for i in n.inputs:
            slots[i] = (n.outputs[0], at)
            at += int(np.prod(g.types[i][0], dtype=np.int64)) * np.dtype(dtype).itemsize
    return slots


def build_plan(g: Graph, target: str = "llvm") -> tuple[ExecutionPlan, MemoryPlan, list[str]]:
    """Kernels, steps and planned buffers for an optimised graph."""
    outs = set(g.outputs)
    buffers: dict[str, int] = {}
    meta: list[dict[str, Any]] = []
    constants: dict[int, np.ndarray] = {}
    root: dict[int, int] = {}

    def buf(name: str | None, shape: tuple[int, ...], dtype: str, kind: str, view_of: int | None = None,
            offset: int = 0) -> int:
        """A new buffer; a view's `offset` is in bytes from the start of its root's storage."""
        bid = len(meta)
        meta.append({"name": name or f"const{bid}", "shape": tuple(int(d) for d in shape), "dtype": dtype,
                     "kind": kind, "view_of": view_of, "offset": offset})
        if name is not None:
            buffers[name] = bid
        root[bid] = root[view_of] if view_of is not None else bid
        return bid

    slots = concat_slots(g)  # concat inputs written straight into their slice of the concat's buffer

    def place(name: str) -> int:
        """The buffer of computed value `name`: its own, or a view into the concat buffer that holds it."""
        if name in buffers:
            return buffers[name]
        if name not in slots:
            return buf(name, *g.types[name], "output" if name in outs else "intermediate")
        whole, at = slots[name]
        outer = place(whole)
        return buf(name, *g.types[name], "intermediate", view_of=root[outer], offset=meta[outer]["offset"] + at)

    def value(name: str) -> int:
        if name in buffers:
            return buffers[name]
        if name in g.constants:
            arr = g.constants[name]
            bid = buf(name, arr.shape, str(arr.dtype), "constant")
            constants[bid] = arr
            return bid
        raise OnnxImportError(f"compile: value '{name}' is used before it is computed")

    for name in g.inputs:
        buf(name, *g.types[name], "input")
    kernels: list[PlanKernel] = []
    kinds: list[str] = []
    cache: dict[Any, int] = {}
    steps: list[PlanStep] = []
    step_io: list[tuple[list[int], list[int]]] = []
    for n in g.nodes:
        if _is_view(n, g):
            src = value(n.inputs[0])
            o = n.outputs[0]
            buf(o, *g.types[o], meta[src]["kind"] if meta[src]["kind"] != "output" else "intermediate",
                view_of=root[src], offset=meta[src]["offset"])
            continue
        if n.op_type == "Concat" and all(i in slots for i in n.inputs):
            place(n.outputs[0])  # its inputs were computed in place: nothing to do
            continue
        spec = kernel_spec(n, g, target)
        key = (spec.kind, _spec_key(n, g) if spec.kind != "onnx.reference" else n.name)
        if key not in cache:
            name = f"k{len(kernels)}_{'_'.join(m.op_type.lower() for m in n.members)}"
            mod = spec.sched if spec.kind == "onnx.reference" else build(spec.sched, spec.args, target=target,
                                                                          name=name)
            cache[key] = len(kernels)
            kernels.append(PlanKernel(name, getattr(mod, "func", None), mod, tuple(m.name for m in n.members)))
            kinds.append(spec.kind)
        args: list[int] = []
        ins: list[int] = []
        outs_ids: list[int] = []
        n_out = len([o for o in n.outputs if o])
        for k, bnd in enumerate(spec.bindings):
            is_out = k >= len(spec.bindings) - n_out
            if bnd is None:  # an omitted optional input of a fallback node
                bid = -1
            elif isinstance(bnd, np.ndarray):
                bid = buf(None, bnd.shape, str(bnd.dtype), "constant")
                constants[bid] = bnd
            elif is_out:
                bid = place(bnd)
                outs_ids.append(root[bid])
            else:
                bid = value(bnd)
                ins.append(root[bid])
            args.append(bid)
        steps.append(PlanStep(cache[key], tuple(args)))
        step_io.append((ins, outs_ids))
    # values read by graph outputs through views stay live to the end
    tail = [root[value(o)] for o in g.outputs]
    step_io.append((tail, []))
    sizes = {b: int(np.prod(m["shape"], dtype=np.int64)) * np.dtype(m["dtype"]).itemsize
             for b, m in enumerate(meta) if m["kind"] == "intermediate" and m["view_of"] is None}
    mem = plan_memory(sizes, step_io)
    storage_sizes = list(mem.storage_sizes)
    storage_of: dict[int, int] = {}
    for b, m in enumerate(meta):
        if m["view_of"] is not None:
            continue
        if b in mem.assignment:
            storage_of[b] = mem.assignment[b]
        else:
            storage_of[b] = len(storage_sizes)
            storage_sizes.append(max(ALIGN, int(np.prod(m["shape"], dtype=np.int64)) * np.dtype(m["dtype"]).itemsize))
    plan_buffers = [PlanBuffer(b, m["name"], m["shape"], m["dtype"], m["kind"], storage_of[root[b]], m["offset"],
                               m["view_of"]) for b, m in enumerate(meta)]
    inputs = [PlanIO(nm, buffers[nm], *g.types[nm]) for nm in g.inputs]
    outputs = [PlanIO(nm, value(nm), *g.types[nm]) for nm in g.outputs]
    plan_buffers += [PlanBuffer(b, meta[b]["name"], meta[b]["shape"], meta[b]["dtype"], meta[b]["kind"],
                                storage_of[root[b]], meta[b]["offset"], meta[b]["view_of"])
                     for b in range(len(plan_buffers), len(meta))]
    plan = ExecutionPlan(kernels, steps, plan_buffers, storage_sizes, constants, inputs, outputs, str(target))
    return plan, mem, kinds


def compile_model(model: Any, target: str = "llvm", tuning_log: str | None = None,
                  shapes: Mapping[str, Sequence[int]] | None = None, optimize: bool = True,
                  fallback: bool = False, blocked_layout: bool = True) -> Executor:
    """Import (if needed), optimise and compile a model; returns an Executor. With `fallback`, nodes tex cannot
    lower run through onnx.reference (`Executor.fallback_nodes` lists them). With `blocked_layout` (and
    `optimize`), conv activations stay in NCHW[b]c between convs (passes/layout.py)."""
    from tex.onnx_import.importer import load
    from tex.onnx_import.passes import optimize as run_passes
    if not _x86(target):
        raise NotImplementedError(f"compile: the graph executor runs models on 'llvm' targets only, got "
                                  f"'{target}'; OpenCL kernels build one at a time with tex.build")
    t0 = time.perf_counter()
    g = model if isinstance(model, Graph) else load(model, shapes=shapes, fallback=fallback)
    if optimize:
        g = run_passes(g)

    def lower(g: Graph) -> tuple[Graph, tuple[ExecutionPlan, MemoryPlan, list[str]]]:
        if optimize and blocked_layout:  # the blocks come from the configs: under the tuning log, if any
            g = convert_layout(g, conv_blocks)
        return g, build_plan(g, target)

    if tuning_log is not None:
        from tex import tune
        with tune.apply_history_best(tuning_log):
            g, (plan, mem, kinds) = lower(g)
    else:
        g, (plan, mem, kinds) = lower(g)
    return Executor(g, plan, mem, time.perf_counter() - t0, kinds)
