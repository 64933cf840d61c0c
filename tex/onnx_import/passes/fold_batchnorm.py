"""BatchNorm folded into the preceding Conv: W' = W * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps).

Applies when the Conv's output feeds only the BatchNormalization, and weights and BN statistics are constants.
"""

from __future__ import annotations

import numpy as np

from tex.onnx_import.graph import Graph, Node


def fold_batchnorm(g: Graph) -> Graph:
    producers, users = g.producers(), g.consumers()
    constants = dict(g.constants)
    replaced: dict[str, Node] = {}   # conv name -> new conv
    dropped: set[str] = set()        # BN names
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
    if not replaced:
        return g
    nodes = tuple(replaced.get(n.name, n) for n in g.nodes if n.name not in dropped)
    types = dict(g.types)
    types.update({k: (tuple(v.shape), str(v.dtype)) for k, v in constants.items() if k not in types})
    return g.with_(nodes=nodes, constants=constants, types=types)
