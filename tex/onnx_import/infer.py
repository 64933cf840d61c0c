"""Static shape and dtype inference: each node's lowering is applied to placeholders of its input types.

The computes a node lowers to carry the output shapes and dtypes, so inference and lowering cannot disagree.
Inputs listed in `ops.STATIC_INPUTS` are passed as the constant arrays they must be.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tex.errors import OnnxImportError
from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.onnx_import import ops as onnx_ops
from tex.onnx_import.graph import Graph, Node, Type


def node_where(n: Node) -> str:
    return f"node '{n.name}' ({n.op_type}, opset {n.opset})"


def lower_node(n: Node, args: list[Any]) -> tuple[Tensor, ...]:
    """Apply n's lowering to `args` (Tensors / arrays / None); returns its output tensors."""
    fn = onnx_ops.lookup(n.op_type, n.opset)
    if fn is None:
        raise OnnxImportError(f"{node_where(n)}: not supported by tex")
    attrs = dict(n.attrs)
    if n.op_type == "Split":
        attrs["_n_out"] = len(n.outputs)
    while args and args[-1] is None:
        args = args[:-1]
    try:
        out = fn(*args, **attrs)
    except (NotImplementedError, OnnxImportError):
        raise
    except (ValueError, TypeError, IndexError, KeyError) as e:
        raise OnnxImportError(f"{node_where(n)}: {e}") from e
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def node_args(n: Node, types: dict[str, Type], constants: dict[str, np.ndarray],
              make: Any = None) -> list[Any]:
    """Arguments for n's lowering: static inputs as arrays, others as `make(name, shape, dtype)` placeholders."""
    fn = onnx_ops.lookup(n.op_type, n.opset)
    static = onnx_ops.STATIC_INPUTS.get(fn, ()) if fn is not None else ()
    args: list[Any] = []
    for k, name in enumerate(n.inputs):
        if not name:
            args.append(None)
        elif k in static:
            if name not in constants:
                raise OnnxImportError(f"{node_where(n)}: input {k} '{name}' must be a compile-time constant "
                                      "(tex compiles static shapes)")
            args.append(constants[name])
        else:
            if name not in types:
                raise OnnxImportError(f"{node_where(n)}: the type of input '{name}' is unknown")
            shape, dtype = types[name]
            args.append(make(name, shape, dtype) if make else dsl.placeholder(shape, dtype=dtype, name="x"))
    return args


def infer_node(n: Node, types: dict[str, Type], constants: dict[str, np.ndarray]) -> list[Type]:
    from tex.onnx_import import fallback
    if fallback.is_fallback(n):
        try:
            return fallback.infer_types(n, types, constants)
        except Exception as e:  # the reference implementation's own errors
            raise OnnxImportError(f"{node_where(n)}: onnx.reference cannot run it for fallback: {e}") from e
    outs = lower_node(n, node_args(n, types, constants))
    result: list[Type] = []
    for t in outs:
        shape = tuple(int(d) for d in t.shape)
        result.append((shape, t.dtype))
    return result


def infer_types(g: Graph) -> Graph:
    """Every value's (shape, dtype); constants and inputs keep theirs."""
    types = dict(g.types)
    for name, arr in g.constants.items():
        types[name] = (tuple(arr.shape), str(arr.dtype))
    for n in g.nodes:
        if n.op_type == "tex.Fused":
            for m in n.fused:
                for o, t in zip(m.outputs, infer_node(m, types, g.constants)):
                    types[o] = t
            continue
        for o, t in zip(n.outputs, infer_node(n, types, g.constants)):
            if o:
                types[o] = t
    return g.with_(types=types)
