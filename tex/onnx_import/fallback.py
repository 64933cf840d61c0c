"""Nodes tex cannot lower, run by ONNX's reference implementation (`onnx.reference`): `load(..., fallback=True)`.

A `ReferenceNode` wraps one node as a one-node ONNX model. At compile time it folds constants and infers the
output types of a fallback node (by running it once on zeros of its input types: shapes that depend on input
values, like NonZero's, are fixed by that run). At run time, as a step of the executor, it reads its input
buffers and writes its results into the output buffers the memory plan gave it. It is Python, and slow: `tex
bench` reports the fallback nodes and their share of the run time so that users see what to replace.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tex.onnx_import import ops as onnx_ops
from tex.onnx_import.graph import Node, Type


def is_fallback(n: Node) -> bool:
    """Whether n is a node tex cannot lower (kept only by load(fallback=True))."""
    return n.op_type != "tex.Fused" and not onnx_ops.supported(n.op_type, n.domain, n.opset)


class ReferenceNode:
    """One ONNX node evaluated by onnx.reference: `run(args) -> outputs` (args: arrays, None for omitted)."""

    def __init__(self, n: Node, in_types: Sequence[Type | None]) -> None:
        from onnx import helper, numpy_helper
        from onnx.reference import ReferenceEvaluator
        attrs = {k: (numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v) for k, v in n.attrs.items()}
        node = helper.make_node(n.op_type, list(n.inputs), list(n.outputs), domain=n.domain or None, **attrs)
        ins = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(t[1])), t[0])
               for name, t in zip(n.inputs, in_types) if name and t is not None]
        outs = [helper.make_empty_tensor_value_info(o) for o in n.outputs if o]
        model = helper.make_model(helper.make_graph([node], n.name or n.op_type, ins, outs),
                                  opset_imports=[helper.make_opsetid(n.domain or "", n.opset)])
        self.node = n
        self.evaluator = ReferenceEvaluator(model)

    def run(self, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        feeds = {name: a for name, a in zip(self.node.inputs, args) if name}
        return [np.asarray(r) for r in self.evaluator.run(None, feeds)]


def evaluate(n: Node, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """n's outputs for concrete inputs, by onnx.reference."""
    types = [(tuple(a.shape), str(a.dtype)) if a is not None else None for a in args]
    return ReferenceNode(n, types).run(args)


def infer_types(n: Node, types: dict[str, Type], constants: dict[str, np.ndarray]) -> list[Type]:
    """The output types of a fallback node: one run on its constant inputs and zeros for the others."""
    args = [None if not name else constants[name] if name in constants else
            np.zeros(types[name][0], dtype=types[name][1]) for name in n.inputs]
    return [(tuple(r.shape), str(r.dtype)) for r in evaluate(n, args)]


class FallbackKernel:
    """A plan kernel that runs its node through onnx.reference instead of compiled code."""

    def __init__(self, n: Node, in_types: Sequence[Type | None]) -> None:
        self.node = n
        self.ref = ReferenceNode(n, in_types)
        self.n_in = len(n.inputs)

    def run_into(self, arrays: Sequence[np.ndarray | None]) -> int:
        """Read the inputs from `arrays[:n_in]` (None: omitted), write the outputs into the rest; returns 0."""
        outs = self.ref.run(arrays[:self.n_in])
        for dst, src in zip(arrays[self.n_in:], outs):
            if dst is None:
                continue
            if src.shape != dst.shape:
                raise RuntimeError(f"node '{self.node.name}' ({self.node.op_type}, run by onnx.reference) produced "
                                   f"shape {src.shape}; tex planned {dst.shape} from its compile-time run (its "
                                   f"output shape depends on input values, which tex's static shapes cannot follow)")
            np.copyto(dst, src, casting="same_kind")
        return 0

    def __repr__(self) -> str:
        return f"FallbackKernel({self.node.op_type} '{self.node.name}')"

