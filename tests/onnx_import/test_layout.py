"""The blocked-layout pass (passes/layout.py): NCHW[b]c kept from conv to conv, conversions only where needed."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import Net, ort_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tex
from tex.onnx_import import load
from tex.onnx_import.passes import optimize
from tex.onnx_import.passes.layout import convert_layout, count_transforms
from tex.onnx_import.tasks import conv_blocks


def _check(m: onnx.ModelProto, seed: int = 1, **kw: object) -> tex.onnx_import.Executor:
    exe = tex.compile(m, **kw)
    x = np.random.default_rng(seed).standard_normal(exe.plan.inputs[0].shape).astype(np.float32)
    got = exe.run({"x": x})
    want = ort_run(m, {"x": x})
    assert list(got) == [o.name for o in m.graph.output]
    for name, w in zip(got, want):
        assert got[name].shape == w.shape, name
        np.testing.assert_allclose(got[name], w, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(w).max())))
    return exe


def _resnet_block() -> onnx.ModelProto:
    n = Net((1, 3, 20, 20))
    a = n.op("Relu", n.conv("x", 3, 16, k=3, pad=1))
    p = n.op("MaxPool", a, kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    b = n.op("Relu", n.conv(p, 16, 32, k=1, pad=0))
    c = n.conv(b, 32, 16)
    d = n.op("Relu", n.op("Add", c, p))  # the shortcut: fused into c's conv, read blocked
    e = n.op("Flatten", n.op("GlobalAveragePool", d))
    w = n.const(n.rng.standard_normal((16, 10)))
    return n.model(n.op("MatMul", e, w))


def test_resnet_block_stays_blocked_between_convs() -> None:
    m = _resnet_block()
    exe = _check(m)
    g = exe.graph
    convs = [n for n in g.nodes if n.members[0].op_type == "Conv"]
    assert all(n.members[0].attrs.get("tex_out_layout", "").startswith("NCHW") for n in convs)
    # one conversion into the first conv, one out of the global pool for Flatten: none between the convs
    assert count_transforms(g) == 2, str(g)
    pool = next(n for n in g.nodes if n.op_type == "MaxPool")
    assert pool.attrs["tex_layout"] == "NCHWc" and len(g.types[pool.outputs[0]][0]) == 5
    assert "tex.LayoutTransform" in str(g)


def test_blocked_layout_off_keeps_nchw() -> None:
    exe = _check(_resnet_block(), blocked_layout=False)
    assert count_transforms(exe.graph) == 0
    assert all(len(t[0]) != 5 for t in exe.graph.types.values())


def test_blocked_values_that_are_graph_outputs_keep_name_and_layout() -> None:
    n = Net((1, 8, 12, 12))
    a = n.op("Relu", n.conv("x", 8, 16))
    b = n.conv(a, 16, 16)
    c = n.op("Sigmoid", b)  # carried blocked, and a graph output
    exe = _check(n.model(a, c, n.conv(c, 16, 8)))
    for o in exe.output_names:
        assert len(exe.graph.types[o][0]) == 4


def test_concat_of_whole_blocks_is_carried_and_others_convert() -> None:
    n = Net((1, 16, 10, 10))
    a, b = n.conv("x", 16, 16), n.conv("x", 16, 32)
    cat = n.op("Concat", a, b, axis=1)
    out1 = n.conv(cat, 48, 16)
    odd = n.conv("x", 16, 6, k=1, pad=0)  # 6 channels: no block of 16 divides them
    cat2 = n.op("Concat", out1, odd, axis=1)
    exe = _check(n.model(n.conv(cat2, 22, 8)))
    g = exe.graph
    first = next(x for x in g.nodes if x.op_type == "Concat")
    assert len(g.types[first.outputs[0]][0]) == 5  # carried: both inputs are whole blocks


def test_per_channel_constants_are_blocked_at_compile_time() -> None:
    n = Net((1, 16, 9, 9))
    a = n.op("MaxPool", n.conv("x", 16, 16), kernel_shape=[2, 2], strides=[1, 1])
    s = n.op("Mul", a, n.const(n.rng.standard_normal((16, 1, 1))))
    t = n.op("Add", s, n.const(np.array(0.5)))
    exe = _check(n.model(n.conv(t, 16, 16)))
    g = exe.graph
    assert count_transforms(g) == 2  # into the first conv, out of the last
    assert any(len(a.shape) == 5 for a in g.constants.values())


def test_broadcast_that_is_not_per_channel_converts_back() -> None:
    n = Net((1, 8, 6, 6))
    a = n.conv("x", 8, 8)
    row = n.op("Add", a, n.const(n.rng.standard_normal((1, 1, 6, 1))))  # broadcast along H: not blockable
    exe = _check(n.model(n.conv(row, 8, 8)))
    add = next(x for x in exe.graph.nodes if x.op_type == "Add")
    assert len(exe.graph.types[add.outputs[0]][0]) == 4


def test_producer_block_is_reused_by_the_consumer() -> None:
    n = Net((1, 16, 8, 8))
    a = n.conv("x", 16, 32)
    g = optimize(load(n.model(n.conv(a, 32, 16))))
    chosen: list[tuple[int | None, tuple[int, int]]] = []

    def choose(node, graph, in_block):  # type: ignore[no-untyped-def]
        ib, ob = conv_blocks(node, graph, in_block) or (0, 0)
        ob = 4 if not chosen else ob  # no default picks 4 for 32 channels
        chosen.append((in_block, (ib, ob)))
        return ib, ob

    out = convert_layout(g, choose)
    assert chosen[1][0] == 4 and chosen[1][1][0] == 4  # the second conv reads the first's 4-blocks as they are
    assert count_transforms(out) == 2


def test_tuned_block_sizes_are_followed(tmp_path: object) -> None:
    """A record with oc_bn=8 for the task that tunes one conv's blocks (layouts "NCHWc"): that conv writes
    NCHW8c and the model stays correct. (`tex tune` itself tunes the tasks of extract_tasks, whose blocks
    are the graph's: see test_model_tasks_tune_in_the_graphs_blocks.)"""
    from tex import tune
    from tex.onnx_import import extract_tasks
    n = Net((1, 16, 8, 8))
    m = n.model(n.conv(n.op("Relu", n.conv("x", 16, 32)), 32, 16))
    graph_task = next(t for t in extract_tasks(m) if t.args[1][0] == 32)
    task = tune.create_task("conv2d_nchw", graph_task.args[:-2] + ("NCHWc", "NCHWc"))
    cfg = next(c for c in task.config_space if c.value("oc_bn") == 8)
    log = f"{tmp_path}/log.jsonl"
    tune.append_records(log, [tune.Record(task.name, task.args, str(task.target), task.target.fingerprint(),
                                          task.config_space.version(), cfg.to_json(), (1e-3,))])
    exe = _check(m, tuning_log=log)
    layouts = [x.members[0].attrs.get("tex_out_layout") for x in exe.graph.nodes if x.members[0].op_type == "Conv"]
    second = next(t for t in extract_tasks(m) if t.args[1][0] == 16).create()
    assert layouts == ["NCHW8c", f"NCHW{second.config_space.default().value('oc_bn')}c"]


def test_model_tasks_tune_in_the_graphs_blocks(tmp_path: object) -> None:
    """A blocked model's conv tasks carry the graph's layouts, so their configs keep the graph's blocks; a
    record of such a task (another register tile) is the config the compiled model's kernel uses."""
    from tex import tune
    from tex.onnx_import import extract_tasks
    n = Net((1, 16, 8, 8))
    m = n.model(n.conv(n.op("Relu", n.conv("x", 16, 32)), 32, 16))
    exe = tex.compile(m)
    layouts = [(x.members[0].attrs["tex_data_layout"], x.members[0].attrs["tex_out_layout"])
               for x in exe.graph.nodes if x.members[0].op_type == "Conv"]
    tasks = [t.create() for t in extract_tasks(m) if t.template == "conv2d_nchw"]
    assert [t.args[-2:] for t in tasks] == layouts
    for t in tasks:  # every config of the space runs in the graph's blocks
        blocks = {(c.value("ic_bn"), c.value("oc_bn")) for c in t.config_space}
        assert len(blocks) == 1
    task = tasks[0]
    cfg = next(c for c in task.config_space if c.value("reg_n") != task.config_space.default().value("reg_n"))
    log = f"{tmp_path}/log.jsonl"
    tune.append_records(log, [tune.Record(task.name, task.args, str(task.target), task.target.fingerprint(),
                                          task.config_space.version(), cfg.to_json(), (1e-3,))])
    import tex.ops.x86.templates as templates
    from tex.ir.transform.pipeline import run_passes
    with tune.apply_history_best(log):  # the kernel as built (vectorized), its loops without the name
        want = str(run_passes(tex.lower(*templates.conv2d_nchw(*task.args)), "build")).split("\n", 1)[1]
    tuned = _check(m, tuning_log=log)
    assert [(x.members[0].attrs["tex_data_layout"], x.members[0].attrs["tex_out_layout"])
            for x in tuned.graph.nodes if x.members[0].op_type == "Conv"] == layouts
    assert want in [str(k.func).split("\n", 1)[1] for k in tuned.plan.kernels]
    assert want not in [str(k.func).split("\n", 1)[1] for k in exe.plan.kernels]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c1=st.sampled_from([4, 8, 12, 16, 24, 32]), c2=st.sampled_from([4, 8, 16, 20, 32]),
       hw=st.integers(3, 9), pool=st.booleans(), residual=st.booleans(), seed=st.integers(0, 99))
def test_random_conv_chains_match_onnxruntime(c1: int, c2: int, hw: int, pool: bool, residual: bool,
                                              seed: int) -> None:
    n = Net((1, 3, hw, hw), seed)
    a = n.op("Relu", n.conv("x", 3, c1))
    if pool:
        a = n.op("AveragePool", a, kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1])
    b = n.op("Relu", n.conv(a, c1, c2, k=1, pad=0))
    c = n.conv(b, c2, c1)
    if residual:
        c = n.op("Relu", n.op("Add", c, a))
    _check(n.model(n.op("GlobalMaxPool", c)), seed)


def test_pointwise_convs_run_as_long_rows() -> None:
    """A 1x1, stride-1, unpadded conv compiles (and tunes) as an image of a few long rows of the same bytes
    (x86.conv2d.pointwise_as_row), blocked or NCHW, with its shortcut; strided and padded 1x1 convs, and
    those whose rows would not be fewer, keep their planes."""
    from tex.onnx_import import extract_tasks
    from tex.ops.x86.isa import vector_lanes
    n = Net((1, 16, 6, 40))
    a = n.op("Relu", n.conv("x", 16, 128, k=1, pad=0))
    b = n.op("Relu", n.op("Add", n.conv(a, 128, 16, k=1, pad=0), "x"))  # 1 block: 16 rows would be > 6
    c = n.conv(b, 16, 16, k=1, pad=0, stride=2)
    m = n.model(n.conv(c, 16, 8, k=1, pad=1))
    shapes = sorted(t.args[0] for t in extract_tasks(m) if t.template == "conv2d_nchw")
    # a's 128 channels: 8 blocks of 16 x 2 rows of 120 (AVX2), 4 blocks of 32 x 4 rows of 60 (AVX-512)
    rows_a = (1, 16, 2, 120) if vector_lanes("float32") == 8 else (1, 16, 4, 60)
    assert shapes == sorted([(1, 16, 3, 20), rows_a, (1, 16, 6, 40), (1, 128, 6, 40)])
    for blocked in (True, False):
        _check(m, blocked_layout=blocked)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c1=st.sampled_from([8, 16, 24, 32]), c2=st.sampled_from([8, 16, 48, 64]), h=st.integers(1, 12),
       w=st.integers(1, 64), seed=st.integers(0, 99))
def test_random_pointwise_chains_match_onnxruntime(c1: int, c2: int, h: int, w: int, seed: int) -> None:
    n = Net((1, c1, h, w), seed)
    a = n.op("Relu", n.conv("x", c1, c2, k=1, pad=0))
    _check(n.model(n.op("Relu", n.op("Add", n.conv(a, c2, c1, k=1, pad=0), "x"))), seed)


def test_a_model_tuned_in_its_blocks_compiles_without_fallback_warnings(tmp_path: object) -> None:
    """Choosing a conv's blocks asks for a record of its "NCHWc" task, which a model tuned in the graph's
    blocks does not have: that question is silent; only the tasks the executor compiles may warn."""
    import warnings

    from tex import tune
    from tex.onnx_import import extract_tasks
    n = Net((1, 16, 8, 8))
    m = n.model(n.conv(n.op("Relu", n.conv("x", 16, 32, k=1, pad=0)), 32, 16))
    log = f"{tmp_path}/log.jsonl"
    for mt in extract_tasks(m):
        t = mt.create()
        tune.append_records(log, [tune.Record(t.name, t.args, str(t.target), t.target.fingerprint(),
                                              t.config_space.version(), t.config_space.default().to_json(),
                                              (1e-3,))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check(m, tuning_log=log)
    with pytest.warns(RuntimeWarning, match="no record of 'conv2d_nchw'"):  # a task without a record still says so
        _check(n.model(n.conv("x", 16, 8, k=1, pad=0)), tuning_log=log)
