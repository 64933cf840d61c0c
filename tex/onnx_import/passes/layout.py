"""Layout transformation: keep a CNN's activations in the blocked NCHW[b]c layout from conv to conv.

The x86 conv kernel computes in NCHW[b]c (channel blocks of b as the innermost, vectorized axis). Left in
NCHW, every conv would repack its input and unpack its output; this pass (TVM's AlterOpLayout and layout
propagation, done once on the graph) instead

- gives each conv that the `conv2d_nchw` template compiles blocked data and output layouts: the output
  block is the oc_bn of its config (tuned under `apply_history_best`, else the default); the input block
  is its producer's block when that divides the input channels (so no conversion is needed), else ic_bn;
- carries the layout through ops that do not care about it: elementwise ops on same-shaped tensors (with
  scalar or per-channel constants, whose per-channel arrays are blocked here, at compile time), pools,
  channel Concat when every input's channels are whole blocks, Identity/Dropout;
- inserts a `tex.LayoutTransform` node only where a value must change layout (into a conv with another
  block, into an op that needs NCHW, at graph outputs), at most once per value and layout.

Graph outputs keep their names and NCHW layout. The converted convs carry "tex_data_layout" and
"tex_out_layout" attributes that the executor passes to the template as its data_layout/out_layout.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tex.onnx_import.fallback import is_fallback
from tex.onnx_import.graph import Graph, Node, Type
from tex.ops.reference import to_blocked

# Ops whose output is computed element by element from same-positioned input elements.
ELEMENTWISE = frozenset({
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Erf", "Neg", "Abs", "Floor", "Ceil", "Reciprocal",
    "LeakyRelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Softplus", "Gelu", "Mish", "Clip", "Identity",
    "Dropout", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Pow",
})
POOLS = frozenset({"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"})

# (conv node, graph, its input's current block or None) -> (input block, output block), or None: stays NCHW
BlockChooser = Callable[[Node, Graph, "int | None"], "tuple[int, int] | None"]


def layout_name(block: int | None) -> str:
    return "NCHW" if block is None else f"NCHW{block}c"


def blocked_type(t: Type, b: int) -> Type:
    (n, c, h, w), dtype = t
    return (n, c // b, h, w, b), dtype


class _Rewriter:
    def __init__(self, g: Graph, choose: BlockChooser) -> None:
        self.g, self.choose = g, choose
        self.logical = dict(g.types)           # every value's NCHW type, as imported
        self.types = dict(g.types)
        self.constants = dict(g.constants)
        self.block: dict[str, int | None] = {}  # value -> its block (absent or None: NCHW)
        self.converted: dict[tuple[str, int | None], str] = {}
        self.nodes: list[Node] = []
        self.outputs = set(g.outputs)

    # ---------------------------------------------------------------- values
    def is_4d(self, v: str) -> bool:
        t = self.logical.get(v)
        return t is not None and len(t[0]) == 4

    def convert(self, v: str, b: int | None) -> str:
        """`v` in layout b, through a (shared) tex.LayoutTransform node when it is in another."""
        have = self.block.get(v)
        if have == b or v in self.constants:
            return v
        key = (v, b)
        if key not in self.converted:
            out = f"{v}__{layout_name(b).lower()}"
            self.transform(v, out, have, b)
            self.types[out] = self.logical[v] if b is None else blocked_type(self.logical[v], b)
            self.logical[out] = self.logical[v]
            self.block[out] = b
            self.converted[key] = out
        return self.converted[key]

    def transform(self, src: str, dst: str, src_block: int | None, dst_block: int | None) -> None:
        self.nodes.append(Node("tex.LayoutTransform", f"layout_{dst}", (src,), (dst,),
                               {"src": layout_name(src_block), "dst": layout_name(dst_block)}, opset=self.g.opset))

    def blocked_constant(self, c: str, b: int, shape: tuple[int, ...]) -> str | None:
        """A per-channel (or scalar) constant broadcast against a blocked NCHW tensor of `shape`, blocked
        to match; None when it broadcasts some other way."""
        arr = self.constants[c]
        if arr.size == 1:
            return c
        ch = shape[1]
        full = (1,) * (4 - arr.ndim) + tuple(arr.shape)
        if len(full) != 4 or full[1] != ch or full[0] != 1 or full[2:] != (1, 1):
            return None
        name = f"{c}__nchw{b}c"
        if name not in self.constants:
            self.constants[name] = to_blocked(arr.reshape(1, ch, 1, 1), b)
            self.types[name] = (tuple(self.constants[name].shape), str(arr.dtype))
        return name

    # ---------------------------------------------------------------- nodes
    def emit(self, n: Node, renames: dict[str, str], out_block: int | None, attrs: dict | None = None) -> None:
        """Append n with inputs renamed and `attrs` added to its head (the first fused member, if fused);
        with out_block, its outputs (and fused intermediates) are blocked."""
        def ren(m: Node, extra: dict) -> Node:
            return m.with_(inputs=tuple(renames.get(i, i) for i in m.inputs), attrs={**m.attrs, **extra})

        extra = attrs or {}
        if n.fused:
            node = ren(n, {}).with_(fused=(ren(n.fused[0], extra), *(ren(m, {}) for m in n.fused[1:])))
        else:
            node = ren(n, extra)
        if out_block is None:
            self.nodes.append(node)
            return
        for m in node.members:
            for o in m.outputs:
                if o:
                    self.types[o] = blocked_type(self.logical[o], out_block)
                    self.block[o] = out_block
        # a blocked graph output: the node writes a blocked twin, a transform writes the output itself
        twins = {o: f"{o}__{layout_name(out_block).lower()}" for o in node.outputs if o in self.outputs}
        if twins:
            node = _rename_outputs(node, twins)
            for o, t in twins.items():
                self.types[t], self.logical[t], self.block[t] = self.types[o], self.logical[o], out_block
                self.block[o] = None
                self.types[o] = self.logical[o]
        self.nodes.append(node)
        for o, t in twins.items():
            self.transform(t, o, out_block, None)
            self.converted[(o, out_block)] = t

    def external_inputs(self, n: Node) -> list[str]:
        inner = {o for m in n.members for o in m.outputs}
        return [i for m in n.members for i in m.inputs if i and i not in inner]

    def conv(self, n: Node) -> bool:
        x = n.members[0].inputs[0]
        blocks = self.choose(n, self.g, self.block.get(x)) if self.is_4d(x) else None
        if blocks is None:
            return False
        ib, ob = blocks
        renames = {x: self.convert(x, ib)}
        for i in self.external_inputs(n)[1:]:
            if i not in self.constants and self.is_4d(i):  # the fused residual: in the output's layout
                renames[i] = self.convert(i, ob)
        self.emit(n, renames, ob, {"tex_data_layout": layout_name(ib), "tex_out_layout": layout_name(ob)})
        return True

    def carry(self, n: Node) -> bool:
        """Run n in the block of its first blocked input, when every member allows it."""
        ins = self.external_inputs(n)
        b = next((self.block[i] for i in ins if self.block.get(i)), None)
        if b is None or is_fallback(n) or not all(_keeps_layout(m, self.logical, self.constants, b)
                                                  for m in n.members):
            return False
        out_shape = self.logical[n.members[-1].outputs[0]][0]
        consts = {i: self.blocked_constant(i, b, out_shape) for i in ins if i in self.constants}
        if any(c is None for c in consts.values()):
            return False
        renames = {i: consts[i] if i in consts else self.convert(i, b) for i in ins}
        self.emit(n, renames, b, {"tex_layout": "NCHWc"} if n.members[0].op_type in POOLS else None)
        return True

    def visit(self, n: Node) -> None:
        head = n.members[0]
        if head.op_type == "Conv" and self.conv(n):
            return
        if head.op_type != "Conv" and self.carry(n):
            return
        renames = {i: self.convert(i, None) for i in self.external_inputs(n) if self.block.get(i)}
        self.emit(n, renames, None)


def _keeps_layout(m: Node, logical: dict[str, Type], constants: dict[str, np.ndarray], b: int) -> bool:
    """Whether member m computes the same thing on NCHW[b]c tensors (the output's channels whole blocks)."""
    outs = [o for o in m.outputs if o]
    if len(outs) != 1 or len(logical.get(outs[0], ((),))[0]) != 4:
        return False
    shape = logical[outs[0]][0]
    if shape[1] % b:
        return False
    if m.op_type in ELEMENTWISE:
        return all(not i or i in constants or logical.get(i, ((),))[0] == shape for i in m.inputs)
    if m.op_type in POOLS:
        return m.op_type.startswith("Global") or len(m.attrs.get("kernel_shape", ())) == 2
    if m.op_type == "Concat":
        return m.attrs.get("axis") in (1, -3) and all(
            i not in constants and len(logical[i][0]) == 4 and logical[i][0][1] % b == 0 for i in m.inputs)
    return False


def _rename_outputs(n: Node, names: dict[str, str]) -> Node:
    members = tuple(m.with_(inputs=tuple(names.get(i, i) for i in m.inputs),
                            outputs=tuple(names.get(o, o) for o in m.outputs)) for m in n.fused)
    return n.with_(outputs=tuple(names.get(o, o) for o in n.outputs), fused=members)


def _rewrite(g: Graph, choose: BlockChooser) -> Graph:
    r = _Rewriter(g, choose)
    for n in g.nodes:
        r.visit(n)
    for o in g.outputs:
        if r.block.get(o):
            raise AssertionError(f"layout: graph output '{o}' left blocked")  # emit() renames blocked outputs
    used = {i for n in r.nodes for m in n.members for i in m.inputs if i}
    constants = {k: v for k, v in r.constants.items() if k in used or k in g.outputs}
    return g.with_(nodes=tuple(r.nodes), constants=constants, types=r.types)


def _isolated_convs(g: Graph) -> set[str]:
    """Blocked convs whose input is converted from NCHW and whose output only goes back to NCHW: blocking them
    gains nothing and costs two conversions, as the kernel can pack and unpack by itself."""
    producers, consumers = g.producers(), g.consumers()
    found = set()
    for n in g.nodes:
        head = n.members[0]
        if "tex_data_layout" not in head.attrs:
            continue
        p = producers.get(head.inputs[0])
        uses = consumers.get(n.outputs[0], [])
        if (p is not None and p.op_type == "tex.LayoutTransform" and p.attrs["src"] == "NCHW"
                and all(u.op_type == "tex.LayoutTransform" and u.attrs["dst"] == "NCHW" for u in uses)):
            found.add(n.name)
    return found


def convert_layout(g: Graph, choose: BlockChooser) -> Graph:
    """`g` with conv activations kept in NCHW[b]c between the convs `choose` gives blocks (see module doc);
    a conv with no blocked neighbour stays NCHW."""
    keep_nchw: set[str] = set()

    def chooser(n: Node, graph: Graph, in_block: int | None) -> tuple[int, int] | None:
        return None if n.name in keep_nchw else choose(n, graph, in_block)

    while True:
        out = _rewrite(g, chooser)
        isolated = _isolated_convs(out) - keep_nchw
        if not isolated:
            return out
        keep_nchw |= isolated


def count_transforms(g: Graph) -> int:
    """How many layout conversions a graph runs."""
    return sum(1 for n in g.nodes if n.op_type == "tex.LayoutTransform")
