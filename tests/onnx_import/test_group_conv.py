"""Grouped Conv nodes (1 < group < channels) compile to the group_conv2d_nchw template (1x1 ones to
group_conv2d_pointwise, a GEMM per group) and match onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import ort_run
from onnx import TensorProto, helper, numpy_helper

import tex
from tex.onnx_import import extract_tasks
from tex.onnx_import.executor import Executor

R = np.random.default_rng(5)


def _w(*shape: int) -> np.ndarray:
    return (R.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))).astype(np.float32)


def _model(nodes: list[onnx.NodeProto], inits: dict[str, np.ndarray], x_shape: list[int],
           extra_inputs: list[onnx.ValueInfoProto] | None = None) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)
    g = helper.make_graph(nodes, "group_conv", [x, *(extra_inputs or [])], [helper.make_empty_tensor_value_info("y")],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _shuffle_block() -> onnx.ModelProto:
    """A ShuffleNet-like unit: grouped 1x1 (+bias, relu), channel shuffle, depthwise 3x3, grouped 1x1 whose
    output joins the block input (Add) before a relu; then a grouped 3x3 with stride 2 and odd group widths."""
    inits = {"w1": _w(16, 6, 1, 1), "b1": _w(16), "shape1": np.array([1, 4, 4, 7, 7], np.int64),
             "shape2": np.array([1, 16, 7, 7], np.int64), "w2": _w(16, 1, 3, 3), "w3": _w(24, 4, 1, 1),
             "b3": _w(24), "w4": _w(15, 8, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], group=4),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Reshape", ["r1", "shape1"], ["s1"]),
             helper.make_node("Transpose", ["s1"], ["t1"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t1", "shape2"], ["u1"]),
             helper.make_node("Conv", ["u1", "w2"], ["d1"], group=16, pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["d1", "w3", "b3"], ["c3"], group=4),
             helper.make_node("Add", ["c3", "x"], ["a3"]),
             helper.make_node("Relu", ["a3"], ["r3"]),
             helper.make_node("Conv", ["r3", "w4"], ["y"], group=3, strides=[2, 2], pads=[1, 1, 1, 1])]
    return _model(nodes, inits, [1, 24, 7, 7])


@pytest.fixture(scope="module")
def block() -> tuple[onnx.ModelProto, Executor]:
    m = _shuffle_block()
    return m, tex.compile(m)


def test_grouped_convs_match_onnxruntime(block: tuple[onnx.ModelProto, Executor]) -> None:
    m, exe = block
    assert exe.kernel_kinds.count("group_conv2d_nchw") == 1  # the 3x3
    assert exe.kernel_kinds.count("group_conv2d_pointwise") == 2  # the 1x1s
    xv = R.standard_normal((1, 24, 7, 7)).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": xv})["y"], ort_run(m, {"x": xv})[0], rtol=1e-4, atol=1e-4)


def test_residual_add_and_relu_fuse_into_the_grouped_conv(block: tuple[onnx.ModelProto, Executor]) -> None:
    _, exe = block
    kinds = dict(zip((k.name for k in exe.plan.kernels), exe.kernel_kinds, strict=True))
    assert any(name.endswith("conv_add_relu") and kind == "group_conv2d_pointwise" for name, kind in kinds.items())


def test_extract_tasks_lists_the_group_tasks() -> None:
    tasks = extract_tasks(_shuffle_block())
    group = [t for t in tasks if t.template in ("group_conv2d_nchw", "group_conv2d_pointwise")]
    assert len(group) == 3 and {t.template for t in tasks} == {"group_conv2d_nchw", "group_conv2d_pointwise",
                                                               "depthwise_conv2d_nchw"}
    by_w = {t.args[1]: t for t in group}
    assert set(by_w) == {(16, 6, 1, 1), (24, 4, 1, 1), (15, 8, 3, 3)}
    assert by_w[(24, 4, 1, 1)].args[-1] is True  # the residual Add is an argument of the kernel
    assert by_w[(15, 8, 3, 3)].flop == 2 * 15 * 8 * 9 * 4 * 4
    assert by_w[(16, 6, 1, 1)].flop == 2 * 16 * 6 * 7 * 7
    task = by_w[(16, 6, 1, 1)].create()
    s, args = task.instantiate(task.config_space.default())
    assert len(args) == 4  # data, weight, bias, out
    assert [tuple(int(d) for d in a.shape) for a in args] == [(1, 24, 49), (16, 6), (16,), (1, 4, 4, 49)]


@pytest.mark.parametrize(("c", "oc", "group", "k"), [(8, 4, 2, 1), (12, 18, 3, 3), (16, 16, 8, 3)])
def test_single_grouped_conv(c: int, oc: int, group: int, k: int) -> None:
    m = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], group=group, pads=[k // 2] * 4)],
               {"w": _w(oc, c // group, k, k), "b": _w(oc)}, [2, c, 9, 9])
    exe = tex.compile(m)
    assert exe.kernel_kinds == ["group_conv2d_pointwise" if k == 1 else "group_conv2d_nchw"]
    xv = R.standard_normal((2, c, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": xv})["y"], ort_run(m, {"x": xv})[0], rtol=1e-4, atol=1e-4)


def test_grouped_conv_with_a_runtime_weight_uses_the_generic_kernel() -> None:
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [8, 2, 3, 3])
    m = _model([helper.make_node("Conv", ["x", "w"], ["y"], group=4, pads=[1, 1, 1, 1])], {}, [1, 8, 6, 6], [w])
    exe = tex.compile(m)
    assert exe.kernel_kinds == ["generic"]
    feeds = {"x": R.standard_normal((1, 8, 6, 6)).astype(np.float32), "w": _w(8, 2, 3, 3)}
    np.testing.assert_allclose(exe.run(feeds)["y"], ort_run(m, feeds)[0], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("oc", "k", "residual"), [(100, 1, False), (100, 3, True), (1000, 1, False)])
def test_plain_conv_with_unaligned_outputs_pads_them(oc: int, k: int, residual: bool) -> None:
    """A group-1 conv whose output channels no whole vector of the host divides (100 on AVX2 and AVX-512)
    runs as the group template with its outputs padded to whole blocks, after a blocked conv (whose layout
    is converted back), with bias, a shortcut Add and relu fused; 1000 (SqueezeNet's classes) only pads on
    AVX-512, where 16 does not divide it."""
    from tex.ops.x86.group_conv2d import padded_conv
    from tex.ops.x86.isa import vector_lanes
    nodes = [helper.make_node("Conv", ["x", "w0"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Conv", ["r", "w", "b"], ["c"], pads=[k // 2] * 4)]
    inits = {"w0": _w(64, 32, 3, 3), "w": _w(oc, 64, k, k), "b": _w(oc)}
    extra = []
    if residual:
        nodes.append(helper.make_node("Add", ["c", "s"], ["a"]))
        extra = [helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, oc, 13, 13])]
        last = "a"
    else:
        last = "c"
    nodes.append(helper.make_node("Relu", [last], ["y"]))
    m = _model(nodes, inits, [1, 32, 13, 13], extra)
    exe = tex.compile(m)
    padded = padded_conv(oc)
    assert padded == (oc % vector_lanes("float32") != 0)
    assert exe.kernel_kinds.count("group_conv2d_nchw") == (1 if padded else 0)
    feeds = {"x": R.standard_normal((1, 32, 13, 13)).astype(np.float32)}
    if residual:
        feeds["s"] = R.standard_normal((1, oc, 13, 13)).astype(np.float32)
    np.testing.assert_allclose(exe.run(feeds)["y"], ort_run(m, feeds)[0], rtol=1e-4, atol=1e-4)
