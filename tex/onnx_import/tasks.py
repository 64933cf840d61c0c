"""The tunable kernels of a model: which x86 template (tex.ops.x86.templates) compiles each node, with what args.

`template_call(node, graph)` is the one place that maps a (fused) Conv or Gemm node to a template and its args
(conv2d_nchw, group_conv2d_nchw for 1 < group < channels, depthwise_conv2d_nchw, dense);
the executor builds those nodes through it (under `apply_history_best` when a tuning log is given) and
`extract_tasks` lists the distinct calls as tuning tasks, so a tuned record always matches what is compiled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tex.lang import dsl
from tex.onnx_import.graph import Graph, Node

TemplateCall = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class ModelTask:
    """One tunable kernel: the template name and args of tex.ops.x86.templates, its FLOPs and use count."""

    template: str
    args: tuple[Any, ...]
    flop: int
    count: int

    def create(self, target: str = "llvm") -> Any:
        import tex.ops.x86.templates  # noqa: F401  (registers the templates)
        from tex import tune
        return tune.create_task(self.template, args=self.args, target=target)


def _epilogue(ms: tuple[Node, ...]) -> str | bool | None:
    """None (no epilogue), "relu", or False when the fused tail is something no template takes."""
    if len(ms) == 1:
        return None
    if len(ms) == 2 and ms[1].op_type == "Relu":
        return "relu"
    return False


def residual_input(ms: tuple[Node, ...]) -> str:
    """The shortcut tensor of a fused Conv + Add/Sum (+ Relu) node (see passes/fuse.py), else ''."""
    if len(ms) < 2 or ms[1].op_type not in ("Add", "Sum"):
        return ""
    a, b = ms[1].inputs
    return b if a == ms[0].outputs[0] else a


def _conv_call(ms: tuple[Node, ...], g: Graph) -> TemplateCall | None:
    from tex.onnx_import.ops import _auto_pads
    from tex.ops.x86.conv2d import pointwise_as_row
    from tex.ops.x86.group_conv2d import padded_conv
    conv = ms[0]
    res = residual_input(ms)
    act = _epilogue((ms[0], *ms[2:]) if res else ms)
    if act is False or len(conv.inputs) < 2:
        return None
    a = conv.attrs
    x, w = conv.inputs[0], conv.inputs[1]
    b = conv.inputs[2] if len(conv.inputs) > 2 and conv.inputs[2] else ""
    if w not in g.constants or (b and b not in g.constants) or x in g.constants:
        return None
    xshape, xdtype = g.types[x]
    if len(xshape) == 5 and "tex_data_layout" in conv.attrs:  # blocked by passes/layout.py: the NCHW task
        xshape = (xshape[0], xshape[1] * xshape[4], xshape[2], xshape[3])
    wshape = tuple(int(d) for d in g.constants[w].shape)
    if len(xshape) != 4 or xdtype != "float32" or len(wshape) != 4:
        return None
    xshape = tuple(int(d) for d in xshape)
    strides, dil = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
    pads = tuple(_auto_pads(dsl.placeholder(xshape), list(wshape[2:]), strides, dil, a.get("auto_pad", "NOTSET"),
                            a.get("pads")))
    group = a.get("group", 1)
    common = (xshape, wshape, strides, pads, dil, bool(b), act, "float32")
    if padded_conv(wshape[0], group) and "tex_data_layout" not in a:
        return "group_conv2d_nchw", common + (True, bool(res))  # one group, outputs padded to whole vectors
    if group == 1:
        # a pointwise conv runs as an image of a few long rows of the same bytes (x86.conv2d.pointwise_as_row):
        # the kernel is called with the graph's buffers as they are
        xrow = pointwise_as_row(xshape, wshape, strides, pads)
        # blocked by passes/layout.py: the task measures the kernel in the blocks the graph gives it
        blocked = (a["tex_data_layout"], a["tex_out_layout"]) if "tex_data_layout" in a else ()
        return "conv2d_nchw", (xrow,) + common[1:] + (True, bool(res), *blocked)
    if group == xshape[1] and wshape[1] == 1 and not res:
        return "depthwise_conv2d_nchw", common
    grouped = 1 < group < xshape[1] and wshape[1] * group == xshape[1] and wshape[0] % group == 0
    if grouped and wshape[2:] == (1, 1) and strides == (1, 1) and dil == (1, 1) and not any(pads):
        # pointwise: one GEMM per group over the pixels, on the NCHW buffers as they are
        return "group_conv2d_pointwise", (xshape, wshape, bool(b), act, "float32", bool(res))
    if grouped:
        return "group_conv2d_nchw", common + (True, bool(res))  # any group size: outputs padded to whole blocks
    return None


def conv_blocks(n: Node, g: Graph, in_block: int | None) -> tuple[int, int] | None:
    """The (input, output) channel blocks of conv node `n` in a blocked-layout graph (passes/layout.py), or
    None when its kernel is not the blocked `conv2d_nchw` template. The output block is the config's oc_bn
    (the tuned record under `apply_history_best`, else the default); the input takes its producer's block
    `in_block` when that divides the channels, since converting the input would cost a pass over it."""
    import tex.ops.x86.templates  # noqa: F401  (registers the templates)
    from tex.tune.template import lookup
    call = template_call(n, g)
    if call is None or call[0] != "conv2d_nchw":
        return None
    name, args = call
    args = args + ("NCHWc", "NCHWc")  # the task of the conv blocked (this node is not converted yet)
    t = lookup(name)
    # quiet: a model tuned in its graph's blocks has no record of this "NCHWc" task, and needs none
    cfg = t.resolve(args, quiet=True) or t.space(args).default()
    ic_bn, oc_bn = int(cfg.value("ic_bn")), int(cfg.value("oc_bn"))
    channels = args[0][1]
    if in_block is not None and channels % in_block == 0:
        ic_bn = in_block
    return ic_bn, oc_bn


def _dense_call(ms: tuple[Node, ...], g: Graph) -> TemplateCall | None:
    gemm = ms[0]
    act = _epilogue(ms)
    a = gemm.attrs
    if act is False or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        return None
    x, w = gemm.inputs[0], gemm.inputs[1]
    c = gemm.inputs[2] if len(gemm.inputs) > 2 and gemm.inputs[2] else ""
    if w not in g.constants or x in g.constants or (c and c not in g.constants) or g.types[x][1] != "float32":
        return None
    m, k = (int(d) for d in g.types[x][0])
    wv = g.constants[w]
    nn = int(wv.shape[0] if a.get("transB", 0) else wv.shape[1])
    if c and g.constants[c].size != nn:
        return None
    return "dense", (m, nn, k, bool(c), act, "float32")


def template_call(n: Node, g: Graph) -> TemplateCall | None:
    """(template name, args) of the x86 template that compiles node `n` of `g`, or None (generic lowering)."""
    ms = n.members
    if ms[0].op_type == "Conv":
        return _conv_call(ms, g)
    if ms[0].op_type == "Gemm":
        return _dense_call(ms, g)
    return None


def _flop(name: str, args: tuple[Any, ...]) -> int:
    import tex.ops.x86.templates  # noqa: F401
    from tex.tune.template import lookup
    t = lookup(name)
    return int(t.flop(*args)) if t.flop is not None else 0


def model_tasks(g: Graph) -> list[ModelTask]:
    """The tasks of an optimised graph after passes/layout.py (blocked convs have blocked tasks)."""
    found: dict[TemplateCall, int] = {}
    for n in g.nodes:
        call = template_call(n, g)
        if call is not None:
            found[call] = found.get(call, 0) + 1
    return [ModelTask(name, args, _flop(name, args), count) for (name, args), count in found.items()]


def extract_tasks(model: Any, target: str = "llvm", shapes: Mapping[str, Sequence[int]] | None = None,
                  blocked_layout: bool = True) -> list[Any]:
    """The distinct tunable kernels of `model` as ModelTasks (template, args, flop, count), heaviest first.

    `task.create(target)` makes the tex.tune Task of the x86 templates; a log of these tasks applies when the
    model is compiled with `tuning_log=`.
    """
    from tex.onnx_import.importer import load
    from tex.onnx_import.passes import optimize
    from tex.onnx_import.passes.layout import convert_layout
    if str(target).split()[0] != "llvm":
        raise NotImplementedError(f"extract_tasks: model tuning templates exist for 'llvm' only, got '{target}'")
    g = model if isinstance(model, Graph) else load(model, shapes=shapes)
    g = optimize(g)
    if blocked_layout:  # which convs run blocked does not depend on the configs: the default ones decide
        g = convert_layout(g, conv_blocks)
    tasks = model_tasks(g)
    return sorted(tasks, key=lambda t: -t.flop * t.count)
