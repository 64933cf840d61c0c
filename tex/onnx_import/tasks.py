"""Tuning tasks of a model: the distinct conv2d / dense kernels of its optimised graph, with their FLOPs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tex.onnx_import.graph import Graph


@dataclass(frozen=True)
class ModelTask:
    """One tunable kernel: the template name and args of tex.ops.x86.templates, its FLOPs and use count."""

    template: str
    args: tuple[Any, ...]
    flop: int
    count: int

    def create(self, target: str = "llvm") -> Any:
        from tex import tune
        return tune.create_task(self.template, args=self.args, target=target)


def model_tasks(g: Graph) -> list[ModelTask]:
    found: dict[tuple[str, tuple[Any, ...]], list[int]] = {}
    for n in g.nodes:
        ms = n.fused if n.op_type == "tex.Fused" else (n,)
        head = ms[0]
        if head.op_type == "Conv" and head.inputs[1] in g.constants:
            xs = g.types[head.inputs[0]][0]
            ws = g.constants[head.inputs[1]].shape
            os_ = g.types[head.outputs[0]][0] if head.outputs[0] in g.types else g.types[ms[-1].outputs[0]][0]
            a = head.attrs
            pads = tuple(a.get("pads", (0, 0, 0, 0)))
            key_args = (tuple(xs), tuple(ws), tuple(a.get("strides", (1, 1))), pads, tuple(a.get("dilations", (1, 1))))
            group = a.get("group", 1)
            name = "conv2d_nchw" if group == 1 else "depthwise_conv2d" if group == xs[1] else ""
            if not name:
                continue
            flop = 2 * int(np.prod(os_, dtype=np.int64)) * int(np.prod(ws[1:], dtype=np.int64))
            found.setdefault((name, key_args), [flop, 0])[1] += 1
        elif head.op_type == "Gemm" and head.inputs[1] in g.constants:
            m, k = g.types[head.inputs[0]][0]
            w = g.constants[head.inputs[1]].shape
            nn = w[0] if head.attrs.get("transB", 0) else w[1]
            found.setdefault(("dense", (m, nn, k)), [2 * m * nn * k, 0])[1] += 1
    return [ModelTask(name, args, flop, count) for (name, args), (flop, count) in found.items()]


def extract_tasks(model: Any, target: str = "llvm", shapes: Mapping[str, Sequence[int]] | None = None) -> list[Any]:
    """The distinct tunable kernels of `model` as ModelTasks (template, args, flop, count), heaviest first.

    `task.create(target)` makes the tex.tune Task of the lead's x86 templates.
    """
    from tex.onnx_import.importer import load
    from tex.onnx_import.passes import optimize
    g = model if isinstance(model, Graph) else load(model, shapes=shapes)
    tasks = model_tasks(optimize(g))
    return sorted(tasks, key=lambda t: -t.flop * t.count)
