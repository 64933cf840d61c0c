"""Dead code elimination: drop nodes none of whose outputs reach a graph output, and unused constants."""

from __future__ import annotations

from tex.onnx_import.graph import Graph


def eliminate_dead_code(g: Graph) -> Graph:
    live = set(g.outputs)
    kept = []
    for n in reversed(g.nodes):
        if any(o in live for o in n.outputs):
            outs = tuple(o if o in live else "" for o in n.outputs)  # unused optional outputs (Dropout's mask)
            kept.append(n.with_(outputs=outs) if outs != n.outputs else n)
            live.update(i for i in n.inputs if i)
            for m in n.fused:
                live.update(i for i in m.inputs if i)
    constants = {k: v for k, v in g.constants.items() if k in live}
    return g.with_(nodes=tuple(reversed(kept)), constants=constants)
