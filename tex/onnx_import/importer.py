"""ONNX ModelProto -> graph IR: checks every op at once, folds compile-time values, infers static types."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tex.errors import OnnxImportError
from tex.onnx_import import ops as onnx_ops
from tex.onnx_import.graph import Graph, Node, Type

MIN_OPSET, MAX_OPSET = 1, 23


def _attr(a: Any) -> Any:
    from onnx import helper, numpy_helper
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [x.decode() for x in v]
    if a.type == a.TENSOR:
        return numpy_helper.to_array(v)
    if a.type == a.GRAPH:
        return v
    return v


def _elem_dtype(elem: int, where: str) -> str:
    if elem not in onnx_ops.ONNX_DTYPES:
        raise OnnxImportError(f"{where}: element type {elem} is not supported by tex")
    return onnx_ops.ONNX_DTYPES[elem]


def unsupported_nodes(nodes: Sequence[Node]) -> list[Node]:
    return [n for n in nodes if not onnx_ops.supported(n.op_type, n.domain, n.opset)]


def light_model_path(name: str) -> str:
    """The path of one of the light models the onnx package ships (resnet50, squeezenet, ...)."""
    import onnx
    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"light_{name}.onnx")
    if not os.path.exists(path):
        raise OnnxImportError(f"light_model_path: the onnx package ships no light_{name}.onnx "
                              f"(in {os.path.dirname(path)})")
    return path


def read_model(model: Any) -> Any:
    """The onnx.ModelProto of a path, bytes or ModelProto, with a clear error for anything unreadable."""
    import onnx
    if isinstance(model, (str, os.PathLike)):
        try:
            return onnx.load(os.fspath(model))
        except FileNotFoundError as e:
            raise OnnxImportError(f"load('{os.fspath(model)}'): no such file") from e
        except Exception as e:  # protobuf's DecodeError and friends
            raise OnnxImportError(f"load('{model}'): not a readable ONNX model ({type(e).__name__}: {e})") from e
    if isinstance(model, bytes):
        return onnx.load_from_string(model)
    if not isinstance(model, onnx.ModelProto):
        raise OnnxImportError(f"load: expected a path, bytes or onnx.ModelProto, got {type(model).__name__}")
    return model


def load(model: Any, shapes: Mapping[str, Sequence[int]] | None = None, optimize: bool = False,
         fallback: bool = False) -> Graph:
    """Import an ONNX model (path, bytes or ModelProto) into a typed Graph with compile-time values folded.

    `shapes` fixes dims the model leaves symbolic (e.g. batch). Every unsupported op is listed in one
    OnnxImportError (op type, node name, domain, opset), unless `fallback=True`: then those nodes stay, to run
    through ONNX's reference implementation (tex.onnx_import.fallback). `optimize=True` also runs the passes.
    """
    from onnx import numpy_helper
    proto = read_model(model)
    g = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if not opset:
        raise OnnxImportError("load: the model imports no version of the default ONNX domain (opset_import)")
    if g.node is None or not len(g.node):
        raise OnnxImportError(f"load: graph '{g.name}' has no nodes")
    constants: dict[str, np.ndarray] = {}
    for init in g.initializer:
        constants[init.name] = numpy_helper.to_array(init)
    nodes: list[Node] = []
    used: set[str] = set()
    for k, n in enumerate(g.node):
        name = n.name or f"{n.op_type}_{k}"
        dom_opset = opset if n.domain in ("", "ai.onnx") else next(
            (o.version for o in proto.opset_import if o.domain == n.domain), 0)
        nodes.append(Node(n.op_type, name, tuple(n.input), tuple(n.output), {a.name: _attr(a) for a in n.attribute},
                          n.domain, dom_opset))
        used.update(n.input)
    bad = unsupported_nodes(nodes)
    if bad and not fallback:
        listing = "; ".join(f"{n.op_type} (node '{n.name}', domain '{n.domain or 'ai.onnx'}', opset {n.opset})"
                            for n in bad)
        raise OnnxImportError(f"load: {len(bad)} unsupported node(s): {listing}; fallback=True (--fallback) runs "
                              f"them through onnx.reference")
    shapes = dict(shapes or {})
    types: dict[str, Type] = {}
    inputs: list[str] = []
    for vi in g.input:
        if vi.name in constants:
            continue
        tt = vi.type.tensor_type
        where = f"input '{vi.name}'"
        dtype = _elem_dtype(tt.elem_type, where)
        if vi.name in shapes:
            shape = tuple(int(d) for d in shapes[vi.name])
        else:
            dims = []
            for axis, d in enumerate(tt.shape.dim):
                if not d.HasField("dim_value") or d.dim_value <= 0:
                    raise OnnxImportError(f"{where}: dim {axis} is symbolic ('{d.dim_param}'); tex compiles static "
                                          f"shapes: pass shapes={{'{vi.name}': (...)}}")
                dims.append(int(d.dim_value))
            shape = tuple(dims)
        types[vi.name] = (shape, dtype)
        inputs.append(vi.name)
    produced = set(inputs) | set(constants) | {o for n in nodes for o in n.outputs}
    for n in nodes:
        missing = [i for i in n.inputs if i and i not in produced]
        if missing:
            raise OnnxImportError(f"load: node '{n.name}' ({n.op_type}) reads undefined value(s) {missing}")
    outputs = tuple(o.name for o in g.output)
    for o in outputs:
        if o not in produced:
            raise OnnxImportError(f"load: graph output '{o}' is not produced by any node")
    graph = Graph(g.name or "model", tuple(nodes), tuple(inputs), outputs, constants, types, opset)
    from tex.onnx_import.passes.fold_constants import fold_constants
    graph = fold_constants(graph)
    if optimize:
        from tex.onnx_import.passes import optimize as run_passes
        graph = run_passes(graph)
    return graph
