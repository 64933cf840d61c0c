"""Constant folding: nodes whose inputs are all known at compile time become constants.

Shape/Size read only the (static) type of their input, so they always fold; ConstantOfShape, Constant and
everything computing on constants (the light models' weights are ConstantOfShape outputs) fold too.
Evaluation uses numpy for the common ops and ONNX's reference implementation (compile time only) otherwise.
Types of the remaining nodes' outputs are inferred on the way (shapes may depend on folded values).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tex.errors import OnnxImportError
from tex.onnx_import import fallback
from tex.onnx_import.graph import Graph, Node, Type
from tex.onnx_import.infer import infer_node, node_where


def _const_attr(n: Node) -> np.ndarray:
    from onnx import numpy_helper
    for k, v in n.attrs.items():
        if k == "value":
            return v if isinstance(v, np.ndarray) else numpy_helper.to_array(v)
        if k in ("value_float", "value_int"):
            return np.asarray(v, dtype=np.float32 if k == "value_float" else np.int64)
        if k in ("value_floats", "value_ints"):
            return np.asarray(v, dtype=np.float32 if k == "value_floats" else np.int64)
    raise OnnxImportError(f"{node_where(n)}: Constant without a supported value attribute ({sorted(n.attrs)})")


def evaluate(n: Node, args: list[Any], types: dict[str, Type]) -> list[np.ndarray]:
    """n's outputs from constant inputs (numpy fast paths, else onnx.reference)."""
    op = n.op_type
    if op == "Constant":
        return [_const_attr(n)]
    if op == "Shape":
        shape = np.asarray(types[n.inputs[0]][0], dtype=np.int64)
        start, end = n.attrs.get("start", 0), n.attrs.get("end", None)
        return [shape[start:end]]
    if op == "Size":
        return [np.asarray(int(np.prod(types[n.inputs[0]][0], dtype=np.int64)), dtype=np.int64)]
    if op == "ConstantOfShape":
        value = n.attrs.get("value")
        v = np.asarray(value).reshape(-1)[:1] if value is not None else np.zeros(1, np.float32)
        return [np.full(tuple(int(d) for d in args[0]), v[0], dtype=v.dtype)]
    if op in ("Identity", "Dropout"):
        return [args[0]]
    if op == "Unsqueeze" and n.opset < 13:
        return [np.expand_dims(args[0], tuple(n.attrs["axes"]))]
    return fallback.evaluate(n, args)


def fold_constants(g: Graph) -> Graph:
    """Fold every node computable at compile time; infer the types of the others."""
    constants = dict(g.constants)
    types = dict(g.types)
    for name, arr in constants.items():
        types[name] = (tuple(arr.shape), str(arr.dtype))
    kept: list[Node] = []
    for n in g.nodes:
        ins = [i for i in n.inputs if i]
        if (n.op_type in ("Shape", "Size") and ins and ins[0] in types) or \
                (n.op_type not in ("Shape", "Size") and all(i in constants for i in ins)):
            args = [constants.get(i) if i else None for i in n.inputs]
            try:
                values = evaluate(n, args, types)
            except OnnxImportError:
                raise
            except Exception as e:  # the reference implementation's own errors
                raise OnnxImportError(f"{node_where(n)}: constant folding failed: {e}") from e
            for o, v in zip(n.outputs, values):
                if o:
                    constants[o] = np.ascontiguousarray(v)
                    types[o] = (tuple(constants[o].shape), str(constants[o].dtype))
            continue
        for o, t in zip(n.outputs, infer_node(n, types, constants)):
            if o:
                types[o] = t
        kept.append(n)
    return g.with_(nodes=tuple(kept), constants=constants, types=types)
