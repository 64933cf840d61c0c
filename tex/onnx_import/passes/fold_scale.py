"""Per-channel scale and shift folded into the preceding Conv (TVM's FoldScaleAxis, forward direction).

    Conv(x, W, b) * s[c]  ->  Conv(x, W * s[c], b * s[c])        (also / s[c])
    Conv(x, W, b) + t[c]  ->  Conv(x, W, b + t[c])                (also - t[c])

where s and t are constants that broadcast along the output channels only ((C, 1, 1), (1, C, 1, 1), a
scalar, ...). Models that spell BatchNorm as a Mul and an Add (Inception v2) then compute each conv and its
normalisation in one kernel, with the Relu after it fused too. Applies when the Conv's output feeds only that
op and is not a graph output; repeats down a chain (Mul, then Add, ...).
"""

from __future__ import annotations

import numpy as np

from tex.onnx_import.graph import Graph, Node

OPS = frozenset({"Mul", "Div", "Add", "Sub"})


def _per_channel(arr: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """`arr` as a (channels,) vector when it broadcasts against (N, C, spatial...) along C only, else None."""
    if arr.ndim > rank:
        return None
    full = (1,) * (rank - arr.ndim) + tuple(arr.shape)
    if any(d != 1 for k, d in enumerate(full) if k != 1) or full[1] not in (1, channels):
        return None
    return np.broadcast_to(arr.reshape(-1).astype(np.float64), (channels,))


def _fold(conv: Node, op: Node, g: Graph, constants: dict[str, np.ndarray]) -> Node | None:
    """The conv with `op` folded in (new weight/bias constants added to `constants`), or None."""
    out = conv.outputs[0]
    if op.op_type not in OPS or len(op.inputs) != 2 or op.inputs[0] == op.inputs[1]:
        return None
    other = op.inputs[1] if op.inputs[0] == out else op.inputs[0]
    if other not in constants or (op.op_type in ("Div", "Sub") and op.inputs[0] != out):
        return None  # c / conv and c - conv do not fold
    w_name = conv.inputs[1]
    b_name = conv.inputs[2] if len(conv.inputs) > 2 and conv.inputs[2] else ""
    if w_name not in constants or (b_name and b_name not in constants):
        return None
    w = constants[w_name]
    shape = g.types.get(out, ((),))[0]
    v = _per_channel(constants[other], w.shape[0], len(shape))
    if v is None or g.types.get(op.outputs[0], ((),))[0] != shape or not np.issubdtype(w.dtype, np.floating):
        return None
    b = constants[b_name].astype(np.float64) if b_name else np.zeros(w.shape[0])
    new_w = w
    if op.op_type in ("Mul", "Div"):
        s = v if op.op_type == "Mul" else 1.0 / v
        new_w, b = (w * s.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype), b * s
    else:
        b = b + v if op.op_type == "Add" else b - v
    names = (f"{op.name}.folded_weight", f"{op.name}.folded_bias")
    constants[names[0]] = new_w
    constants[names[1]] = b.astype(w.dtype)
    return conv.with_(inputs=(conv.inputs[0], *names), outputs=op.outputs)


def fold_scale_shift(g: Graph) -> Graph:
    constants = dict(g.constants)
    nodes = list(g.nodes)
    changed = False
    while True:
        users: dict[str, list[int]] = {}
        for k, n in enumerate(nodes):
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(k)
        folded = False
        for k, conv in enumerate(nodes):
            if conv.op_type != "Conv" or conv.outputs[0] in g.outputs:
                continue
            us = users.get(conv.outputs[0], [])
            if len(us) != 1:
                continue
            new = _fold(conv, nodes[us[0]], g, constants)
            if new is not None:
                nodes[k] = new
                del nodes[us[0]]
                folded = changed = True
                break
        if not folded:
            break
    if not changed:
        return g
    used = {i for n in nodes for i in n.inputs if i}
    constants = {k: v for k, v in constants.items() if k in used or k in g.outputs}
    types = dict(g.types)
    types.update({k: (tuple(v.shape), str(v.dtype)) for k, v in constants.items()})
    return g.with_(nodes=tuple(nodes), constants=constants, types=types)
