"""BatchNorm folded into the preceding Conv: W' = W * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).

Applies when the Conv's output feeds only the BatchNormalization, and weights and BN statistics are constants.
Any other inference BatchNorm with constant statistics (DenseNet's pre-activation BNs, after a Concat) becomes
`x * s + t` with per-channel constants, t = beta - mean * s: fusion folds the two into the kernel that feeds or
reads them, and the layout pass carries them in blocked layouts like any per-channel scale and shift.
"""

from __future__ import annotations

import numpy as np

from tex.onnx_import.graph import Graph, Node


def fold_batchnorm(g: Graph) -> Graph:
    producers, users = g.producers(), g.consumers()
    constants = dict(g.constants)
    replaced: dict[str, Node] = {}   # conv name -> new conv
    dropped: set[str] = set()        # BN names
    changed = False
    for bn in g.nodes:
        if bn.op_type != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1:
            continue
        conv = producers.get(bn.inputs[0])
        if conv is None or conv.op_type != "Conv" or len(users.get(conv.outputs[0], [])) != 1 or \
                conv.outputs[0] in g.outputs or bn.attrs.get("training_mode", 0):
            continue
        params = bn.inputs[1:5]
        w_name = conv.inputs[1]
        b_name = conv.inputs[2] if len(conv.inputs) > 2 and conv.inputs[2] else ""
        if not all(p in constants for p in params) or w_name not in constants or (b_name and b_name not in constants):
            continue
        gamma, beta, mean, var = (constants[p].astype(np.float64) for p in params)
        w = constants[w_name]
        s = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
        b = constants[b_name].astype(np.float64) if b_name else np.zeros(w.shape[0])
        new_w, new_b = f"{conv.name}.bn_weight", f"{conv.name}.bn_bias"
        constants[new_w] = (w * s.reshape(-1, 1, 1, 1)).astype(w.dtype)
        constants[new_b] = ((b - mean) * s + beta).astype(w.dtype)
        replaced[conv.name] = conv.with_(inputs=(conv.inputs[0], new_w, new_b), outputs=bn.outputs)
        dropped.add(bn.name)
        changed = True
    nodes_: list[Node] = []
    types = dict(g.types)
    for n in g.nodes:
        if n.name in dropped:
            continue
        n = replaced.get(n.name, n)
        affine = _as_scale_shift(n, constants, types)
        nodes_ += affine or [n]
        changed = changed or bool(affine)
    if not changed:
        return g
    nodes = tuple(nodes_)
    types.update({k: (tuple(v.shape), str(v.dtype)) for k, v in constants.items() if k not in types})
    return g.with_(nodes=nodes, constants=constants, types=types)


def _as_scale_shift(bn: Node, constants: dict[str, np.ndarray], types: dict) -> list[Node] | None:
    """An inference BatchNormalization with constant statistics as Mul + Add nodes (new constants and the
    intermediate's type are added to `constants` / `types`), else None."""
    if bn.op_type != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1 or \
            bn.attrs.get("training_mode", 0) or not all(p in constants for p in bn.inputs[1:5]):
        return None
    x, out = bn.inputs[0], bn.outputs[0]
    if x not in types or len(types[x][0]) < 2:
        return None
    gamma, beta, mean, var = (constants[p].astype(np.float64) for p in bn.inputs[1:5])
    s = gamma / np.sqrt(var + float(bn.attrs.get("epsilon", 1e-5)))
    t = beta - mean * s
    shape, dtype = types[x]
    per_channel = (-1,) + (1,) * (len(shape) - 2)
    s_name, t_name, mid = f"{bn.name}.scale", f"{bn.name}.shift", f"{out}.scaled"
    constants[s_name] = s.reshape(per_channel).astype(dtype)
    constants[t_name] = t.reshape(per_channel).astype(dtype)
    for k in (s_name, t_name):
        types[k] = (tuple(constants[k].shape), dtype)
    types[mid] = types[x]
    return [Node("Mul", f"{bn.name}.mul", (x, s_name), (mid,), opset=bn.opset),
            Node("Add", f"{bn.name}.add", (mid, t_name), (out,), opset=bn.opset)]
