"""Operator fusion: an anchor op and the chain of injective ops after it become one `tex.Fused` node.

A value is fused into its consumer when it has exactly that one consumer, is not a graph output, and the
consumer is elementwise/broadcast with the same output shape. One fused node compiles to one kernel: the
chain is inlined (compute_inline) into the anchor's output loop, with no intermediate buffer. Gemm and
MatMul anchors take at most a Relu epilogue (their x86 kernels apply bias + relu as they write out); a Conv
also takes a residual Add/Sum of a same-shaped tensor before the Relu (a ResNet block's shortcut), which the
fused node computes where the Add was, so the shortcut is ready by then.
"""

from __future__ import annotations

from tex.onnx_import import ops as onnx_ops
from tex.onnx_import.fallback import is_fallback
from tex.onnx_import.graph import Graph, Node

EPILOGUE_ANCHORS = frozenset({"Conv", "Gemm", "MatMul"})
FUSABLE = onnx_ops.INJECTIVE | {"BatchNormalization"}


def _epilogue_step(g: Graph, group: list[Node], out: str, u: Node) -> bool:
    """Whether `u` (reading `out`) extends the epilogue of the anchor group[0]: Relu last, and for a Conv a
    residual Add/Sum of one same-shaped, computed (non-constant) tensor first."""
    tail = [m.op_type for m in group[1:]]
    if u.op_type == "Relu":
        return "Relu" not in tail
    if group[0].op_type != "Conv" or tail or u.op_type not in ("Add", "Sum") or len(u.inputs) != 2:
        return False
    other = u.inputs[1] if u.inputs[0] == out else u.inputs[0]
    return other != out and other not in g.constants and g.types.get(other) == g.types.get(out)


def fuse_operators(g: Graph) -> Graph:
    users = g.consumers()
    outs = set(g.outputs)
    consumed: set[str] = set()
    groups: dict[str, list[Node]] = {}   # head name -> members
    owner: dict[str, str] = {}           # node name -> head name
    for n in g.nodes:
        if n.name in owner or n.op_type in onnx_ops.VIEWS or is_fallback(n):  # onnx.reference runs a node alone
            continue
        group = [n]
        owner[n.name] = n.name
        last = n
        while len([o for o in last.outputs if o]) == 1:
            out = last.outputs[0]
            us = users.get(out, [])
            if len(us) != 1 or out in outs:
                break
            u = us[0]
            if u.op_type not in FUSABLE or u.op_type in onnx_ops.VIEWS or u.name in owner:
                break
            if n.op_type in EPILOGUE_ANCHORS and not _epilogue_step(g, group, out, u):
                break
            if u.inputs[0] != out and u.op_type not in ("Add", "Mul", "Sum", "Sub", "Max", "Min"):
                break
            if g.types.get(u.outputs[0], (None,))[0] != g.types.get(out, (None,))[0]:
                break
            group.append(u)
            owner[u.name] = n.name
            consumed.add(out)
            last = u
        groups[n.name] = group
    nodes: list[Node] = []
    emitted_at: dict[str, int] = {}
    for n in g.nodes:
        head = owner.get(n.name)
        if head is None:
            nodes.append(n)
            continue
        group = groups[head]
        if n is not group[-1]:
            continue
        if len(group) == 1:
            nodes.append(n)
            continue
        internal = {o for m in group[:-1] for o in m.outputs}
        ins: list[str] = []
        for m in group:
            ins += [i for i in m.inputs if i and i not in internal and i not in ins]
        name = "+".join(m.name for m in group)
        nodes.append(Node("tex.Fused", name, tuple(ins), group[-1].outputs, {"ops": "+".join(m.op_type for m in group)},
                          "tex", group[0].opset, tuple(group)))
        emitted_at[name] = len(nodes)
    return g.with_(nodes=tuple(nodes))
