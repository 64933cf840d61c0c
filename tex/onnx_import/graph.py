"""The graph IR of an imported model: nodes in topological order over named values, constants as arrays.

A `Graph` is a value: passes take a graph and return a new one (`dataclasses.replace`), never mutate.
`types` holds every value's static (shape, dtype) after inference; `constants` the arrays known at
compile time (initializers and folded values). `print(graph)` reads like the ONNX text format.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

Type = tuple[tuple[int, ...], str]  # (shape, dtype)


@dataclass(frozen=True)
class Node:
    """One operator application: `outputs = op_type(inputs, **attrs)`; "" marks an omitted optional input."""

    op_type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    domain: str = ""
    opset: int = 13
    fused: tuple[Node, ...] = ()  # for op_type "tex.Fused": the member nodes, in order

    def with_(self, **changes: Any) -> Node:
        return replace(self, **changes)

    @property
    def members(self) -> tuple[Node, ...]:
        """The nodes this one computes: the fused members of a "tex.Fused" node, else the node itself."""
        return self.fused if self.op_type == "tex.Fused" else (self,)


@dataclass(frozen=True)
class Graph:
    """A dataflow graph: `inputs` (runtime values), `outputs`, `nodes` (topological), `constants`, `types`."""

    name: str
    nodes: tuple[Node, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    constants: dict[str, np.ndarray] = field(default_factory=dict, compare=False, hash=False)
    types: dict[str, Type] = field(default_factory=dict, compare=False, hash=False)
    opset: int = 13

    def with_(self, **changes: Any) -> Graph:
        return replace(self, **changes)

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(n)
        return users

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
        return counts

    def __str__(self) -> str:
        return print_graph(self)


def _type_text(g: Graph, name: str) -> str:
    if name in g.types:
        shape, dtype = g.types[name]
        return f"{dtype}[{', '.join(map(str, shape))}]"
    return "?"


def _attr_text(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"array{list(v.shape)}" if v.size > 8 else repr(v.tolist())
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v)


def _node_text(g: Graph, n: Node, indent: str) -> list[str]:
    outs = ", ".join(f"%{o}: {_type_text(g, o)}" for o in n.outputs)
    ins = ", ".join(f"%{i}" if i else "_" for i in n.inputs)
    attrs = ", ".join(f"{k}={_attr_text(v)}" for k, v in sorted(n.attrs.items()))
    lines = [f"{indent}{outs} = {n.op_type}({ins}{', ' if attrs and ins else ''}{attrs})  # {n.name}"]
    for m in n.fused:
        lines += _node_text(g, m, indent + "    | ")
    return lines


def print_graph(g: Graph) -> str:
    """The graph as text: signature, constants (shape only), then one line per node."""
    sig = ", ".join(f"%{i}: {_type_text(g, i)}" for i in g.inputs)
    lines = [f"graph {g.name}({sig}) opset {g.opset} {{"]
    for name, arr in g.constants.items():
        lines.append(f"  const %{name}: {arr.dtype}[{', '.join(map(str, arr.shape))}]")
    for n in g.nodes:
        lines += _node_text(g, n, "  ")
    lines.append(f"  return {', '.join('%' + o for o in g.outputs)}")
    lines.append("}")
    return "\n".join(lines)
