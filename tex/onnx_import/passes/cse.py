"""Common subexpression elimination: two nodes with the same op, attributes and inputs compute one value.

Constants with identical bytes are merged first, so equal weights feeding equal ops merge too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tex.onnx_import.graph import Graph


def _key(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return ("array", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_key(x) for x in v)
    return v


def eliminate_common_subexpressions(g: Graph) -> Graph:
    rename: dict[str, str] = {}
    seen_const: dict[Any, str] = {}
    for name, arr in g.constants.items():
        if arr.size <= 4096:  # hashing big weights costs more than it finds
            k = ("const", arr.dtype.str, arr.shape, arr.tobytes())
            if k in seen_const:
                rename[name] = seen_const[k]
            else:
                seen_const[k] = name
    seen: dict[Any, tuple[str, ...]] = {}
    nodes = []
    outs = set(g.outputs)
    for n in g.nodes:
        inputs = tuple(rename.get(i, i) for i in n.inputs)
        n = n.with_(inputs=inputs) if inputs != n.inputs else n
        k = (n.op_type, n.domain, n.opset, inputs, tuple(sorted((a, _key(v)) for a, v in n.attrs.items())))
        if k in seen and not (set(n.outputs) & outs):
            for o, prev in zip(n.outputs, seen[k]):
                rename[o] = prev
            continue
        seen[k] = n.outputs
        nodes.append(n)
    constants = {k: v for k, v in g.constants.items() if k not in rename}
    return g.with_(nodes=tuple(nodes), constants=constants)
