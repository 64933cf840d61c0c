"""load(fallback=True): nodes tex cannot lower run through onnx.reference, checked against onnxruntime;
`tex ops` lists what a model needs; `tex bench --fallback` reports the fallback share of the run time."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import ort_run
from onnx import TensorProto, helper, numpy_helper

import tex
from tex import cli

R = np.random.default_rng(0)


def model_with_unsupported_ops() -> onnx.ModelProto:
    """x -> Relu -> CumSum(axis 1) -> Add(b) -> TopK(k=3) -> (values * 2, indices); CumSum and TopK are not tex's."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("CumSum", ["r", "axis"], ["c"], name="cumsum"),
        helper.make_node("Add", ["c", "b"], ["a"]),
        helper.make_node("TopK", ["a", "k"], ["v", "idx"], name="topk"),
        helper.make_node("Mul", ["v", "two"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(1, np.int64), "axis"),
             numpy_helper.from_array(R.standard_normal(9).astype(np.float32), "b"),
             numpy_helper.from_array(np.array([3], np.int64), "k"),
             numpy_helper.from_array(np.array(2, np.float32), "two")]
    g = helper.make_graph(nodes, "fb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 9])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3]),
                           helper.make_tensor_value_info("idx", TensorProto.INT64, [4, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_without_fallback_names_every_unsupported_node_and_the_flag() -> None:
    with pytest.raises(tex.OnnxImportError, match=r"2 unsupported.*CumSum \(node 'cumsum'.*TopK \(node 'topk'.*"
                                                  r"fallback=True"):
        tex.compile(model_with_unsupported_ops())


def test_fallback_matches_onnxruntime() -> None:
    m = model_with_unsupported_ops()
    exe = tex.compile(m, fallback=True)
    assert sorted(exe.fallback_nodes) == ["cumsum", "topk"]
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((4, 9)).astype(np.float32)
        got = exe.run({"x": x})
        want = ort_run(m, {"x": x})
        np.testing.assert_allclose(got["y"], want[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got["idx"], want[1])
        assert got["idx"].dtype == np.int64


def test_profile_covers_every_step() -> None:
    exe = tex.compile(model_with_unsupported_ops(), fallback=True)
    steps = exe.profile({"x": R.standard_normal((4, 9)).astype(np.float32)}, repeat=3)
    assert [name for name, _ in steps] == [exe.plan.kernels[s.kernel].name for s in exe.plan.steps]
    assert all(t > 0 for _, t in steps)


def test_fallback_node_on_constants_is_folded() -> None:
    nodes = [helper.make_node("CumSum", ["w", "axis"], ["cw"], name="cumsum_const"),
             helper.make_node("Add", ["x", "cw"], ["y"])]
    w = R.standard_normal(5).astype(np.float32)
    g = helper.make_graph(nodes, "fold", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(0, np.int64), "axis")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    exe = tex.compile(m, fallback=True)
    assert exe.fallback_nodes == []  # computed once, at compile time
    x = R.standard_normal(5).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": x})["y"], x + np.cumsum(w), rtol=1e-6)


def test_model_with_fallback_does_not_export(tmp_path) -> None:
    exe = tex.compile(model_with_unsupported_ops(), fallback=True)
    with pytest.raises(NotImplementedError, match=r"cumsum, topk run through onnx\.reference"):
        exe.export_library(str(tmp_path / "m.so"))


def test_fallback_of_an_op_the_reference_cannot_run() -> None:
    node = helper.make_node("NoSuchOp", ["x"], ["y"], name="bogus")
    g = helper.make_graph([node], "bad", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(tex.OnnxImportError, match=r"node .bogus. \(NoSuchOp, opset 17\): onnx\.reference cannot run"):
        tex.compile(m, fallback=True)


def test_tex_ops_lists_support(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(model_with_unsupported_ops(), str(path))
    assert cli.main(["ops", str(path)]) == 1
    out = capsys.readouterr().out
    assert "2 unsupported" in out
    assert any("CumSum" in line and "UNSUPPORTED" in line for line in out.splitlines())
    assert any("Relu" in line and "compiled" in line for line in out.splitlines())


def test_tex_bench_reports_fallback_share(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.onnx"
    onnx.save(model_with_unsupported_ops(), str(path))
    assert cli.main(["bench", str(path), "--fallback", "--repeat", "3", "--compare", "onnxruntime"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("fallback"))
    assert "2 node(s) run by onnx.reference" in line and "cumsum (CumSum)" in line and "topk (TopK)" in line
    share = int(line.split("% of the run time")[0].split()[-1])
    assert 0 < share <= 100
    assert "max abs error" in out
