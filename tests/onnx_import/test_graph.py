"""Import, printer, graph passes, memory planning, the plan, tasks and bad input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import LIGHT, ort_run, single_op_model
from onnx import TensorProto, helper, numpy_helper

import tex
from tex.onnx_import import extract_tasks, load
from tex.onnx_import.passes import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_batchnorm,
    fuse_operators,
    optimize,
)
from tex.onnx_import.passes.memory_plan import plan_memory


def _model(nodes: list, inputs: list, outputs: list, inits: dict | None = None, opset: int = 17) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "t", inputs, outputs,
                          [numpy_helper.from_array(v, k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])
Y = helper.make_empty_tensor_value_info("y")
R = np.random.default_rng(0)


def test_unsupported_ops_listed_at_once() -> None:
    m = _model([helper.make_node("Foo", ["x"], ["a"], name="f1"), helper.make_node("Relu", ["a"], ["b"]),
                helper.make_node("Bar", ["b"], ["y"], name="b2", domain="custom")],
               [X], [Y])
    m.opset_import.append(helper.make_opsetid("custom", 1))
    with pytest.raises(tex.OnnxImportError, match=r"2 unsupported.*Foo \(node 'f1'.*opset 17\).*Bar \(node 'b2'"):
        load(m)


def test_bad_inputs_clear_errors() -> None:
    exe = tex.compile(single_op_model("Relu", [(2, 3)]))
    with pytest.raises(ValueError, match="unknown input 'nope'"):
        exe.run({"x0": np.zeros((2, 3), np.float32), "nope": 1})
    with pytest.raises(ValueError, match=r"input 'x0' must have shape \(2, 3\)"):
        exe.run({"x0": np.zeros((3, 3), np.float32)})
    with pytest.raises(TypeError, match="input 'x0' must be float32, got float64"):
        exe.run({"x0": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="missing input 'x0'"):
        exe.run({})


def test_symbolic_dim_and_bad_file(tmp_path: object) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [x], [Y])
    with pytest.raises(tex.OnnxImportError, match="input 'x': dim 0 is symbolic"):
        load(m)
    assert load(m, shapes={"x": (2, 3)}).types["y"] == ((2, 3), "float32")
    bad = tmp_path / "bad.onnx"  # type: ignore[operator]
    bad.write_bytes(b"not a model")
    with pytest.raises(tex.OnnxImportError, match="not a readable ONNX model"):
        load(str(bad))


def test_fold_dce_cse_and_printer() -> None:
    shape = numpy_helper.from_array(np.array([4], np.int64))
    two = numpy_helper.from_array(np.array([2.0], np.float32))
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["c"], value=two),
             helper.make_node("Relu", ["x"], ["r1"]), helper.make_node("Relu", ["x"], ["r2"]),
             helper.make_node("Add", ["r1", "r2"], ["a"]), helper.make_node("Mul", ["a", "c"], ["y"]),
             helper.make_node("Exp", ["x"], ["dead"])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4])
    m = _model(nodes, [x], [Y], {"s": numpy_helper.to_array(shape)})
    g = load(m)
    assert "ConstantOfShape" not in g.op_counts() and g.constants["c"].tolist() == [2.0] * 4
    g = eliminate_common_subexpressions(eliminate_dead_code(g))
    assert g.op_counts() == {"Relu": 1, "Add": 1, "Mul": 1}
    assert "Relu(%x)" in str(g) and "float32[3, 4]" in str(g)
    xv = R.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(tex.compile(m).run({"x": xv})["y"], ort_run(m, {"x": xv})[0], rtol=1e-6)


def _conv_bn_relu_model() -> onnx.ModelProto:
    inits = {"w": R.standard_normal((8, 4, 3, 3)).astype(np.float32), "b": R.standard_normal(8).astype(np.float32),
             "g": R.uniform(0.5, 2, 8).astype(np.float32), "be": R.standard_normal(8).astype(np.float32),
             "m": R.standard_normal(8).astype(np.float32), "v": R.uniform(0.5, 2, 8).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    return _model(nodes, [X], [Y], inits)


def test_batchnorm_folding_and_fusion() -> None:
    m = _conv_bn_relu_model()
    g = fold_batchnorm(load(m))
    assert g.op_counts() == {"Conv": 1, "Relu": 1}
    f = fuse_operators(g)
    assert f.op_counts() == {"tex.Fused": 1} and f.nodes[0].attrs["ops"] == "Conv+Relu"
    exe = tex.compile(m)
    assert len(exe.plan.kernels) == 1 and exe.kernel_kinds == ["conv2d_nchw"]
    xv = R.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": xv})["y"], ort_run(m, {"x": xv})[0], rtol=1e-4, atol=1e-4)


def test_injective_chain_is_one_kernel() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Mul", ["a", "x"], ["b"]),
             helper.make_node("Sigmoid", ["b"], ["y"])]
    m = _model(nodes, [X], [Y])
    exe = tex.compile(m)
    assert len(exe.plan.steps) == 1
    xv = R.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": xv})["y"], ort_run(m, {"x": xv})[0], rtol=1e-5, atol=1e-6)


def test_memory_plan_reuses_dead_buffers() -> None:
    sizes = {0: 100, 1: 100, 2: 100, 3: 100}
    plan = plan_memory(sizes, [([], [0]), ([0], [1]), ([1], [2]), ([2], [3]), ([3], [])])
    assert len(plan.storage_sizes) == 2 and plan.saved_bytes == 2 * 128
    for k in range(3):  # a step never writes the storage it reads
        assert plan.assignment[k] != plan.assignment[k + 1]


def test_plan_and_tasks_of_a_light_model() -> None:
    path = f"{LIGHT}/light_squeezenet.onnx"
    exe = tex.compile(path)
    plan = exe.plan
    assert exe.memory.saved_bytes > 0 and plan.inputs[0].shape == (1, 3, 224, 224)
    for st in plan.steps:
        assert len(st.args) == len(plan.kernels[st.kernel].func.params)
    tasks = extract_tasks(path)
    # group_conv2d_nchw: the 1000-class conv on AVX-512, its outputs padded to whole vectors
    assert tasks and all(t.template in ("conv2d_nchw", "group_conv2d_nchw", "depthwise_conv2d_nchw", "dense")
                         for t in tasks)
    assert sum(t.count for t in tasks) == 26


def test_optimize_keeps_semantics_on_view_outputs() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Flatten", ["a"], ["y"])]
    m = _model(nodes, [X], [Y])
    g = optimize(load(m))
    xv = R.standard_normal((1, 4, 6, 6)).astype(np.float32)
    assert len(g.nodes) == 2
    np.testing.assert_allclose(tex.compile(m).run({"x": xv})["y"], ort_run(m, {"x": xv})[0])


@pytest.mark.parametrize("op", ["Add", "Sum"])
@pytest.mark.parametrize("relu", [True, False])
def test_residual_add_fuses_into_the_conv(op: str, relu: bool) -> None:
    """A ResNet shortcut: conv(x) + relu(conv0(x)) [+ relu] is one conv kernel with a residual argument."""
    inits = {"w0": R.standard_normal((8, 4, 1, 1)).astype(np.float32),
             "w1": R.standard_normal((8, 4, 3, 3)).astype(np.float32), "b1": R.standard_normal(8).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w0"], ["s0"]), helper.make_node("Relu", ["s0"], ["s"]),
             helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node(op, ["s", "c"] if op == "Add" else ["c", "s"], ["a" if relu else "y"])]
    if relu:
        nodes.append(helper.make_node("Relu", ["a"], ["y"]))
    m = _model(nodes, [X], [Y], inits)
    f = fuse_operators(optimize(load(m)))
    fused = [n for n in f.nodes if n.op_type == "tex.Fused" and n.attrs["ops"].startswith("Conv+" + op)]
    assert len(fused) == 1
    exe = tex.compile(m)
    assert exe.kernel_kinds == ["conv2d_nchw", "conv2d_nchw"] and len(exe.plan.steps) == 2
    xv = R.standard_normal((1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": xv})["y"], ort_run(m, {"x": xv})[0], rtol=1e-4, atol=1e-4)


def test_residual_is_not_fused_when_the_shortcut_broadcasts() -> None:
    inits = {"w1": R.standard_normal((8, 4, 3, 3)).astype(np.float32)}
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 8, 1, 1])
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "s"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    m = _model(nodes, [X, s], [Y], inits)
    f = fuse_operators(optimize(load(m)))
    assert all(not (n.op_type == "tex.Fused" and "Add" in n.attrs["ops"] and "Conv" in n.attrs["ops"])
               for n in f.nodes)
    exe = tex.compile(m)
    feeds = {"x": R.standard_normal((1, 4, 6, 6)).astype(np.float32),
             "s": R.standard_normal((1, 8, 1, 1)).astype(np.float32)}
    np.testing.assert_allclose(exe.run(feeds)["y"], ort_run(m, feeds)[0], rtol=1e-4, atol=1e-4)


def test_compile_for_opencl_is_a_clear_not_implemented() -> None:
    m = single_op_model("Relu", [(2, 8)])
    with pytest.raises(NotImplementedError, match="'llvm' targets only, got 'opencl'"):
        tex.compile(m, target="opencl")
