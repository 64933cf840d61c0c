"""Tuning a model: its tasks are the templates the executor compiles, `tex tune model.onnx` splits the trials,
and a tuning log changes the compiled kernels (not the answers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from helpers import ort_run
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import tex
from tex import tune
from tex.cli import main
from tex.cli_tune import split_budget
from tex.onnx_import import extract_tasks

R = np.random.default_rng(3)


def _model() -> onnx.ModelProto:
    """conv 8->16 + relu, depthwise 3x3 + bias, global pool, Gemm + relu: one task of each template."""
    inits = {"w1": R.standard_normal((16, 8, 3, 3)).astype(np.float32),
             "w2": R.standard_normal((16, 1, 3, 3)).astype(np.float32),
             "b2": R.standard_normal(16).astype(np.float32),
             "w3": R.standard_normal((10, 16)).astype(np.float32), "b3": R.standard_normal(10).astype(np.float32),
             "shape": np.array([1, 16], dtype=np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=16),
             helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
             helper.make_node("Reshape", ["p", "shape"], ["f"]),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["y"])]
    g = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 14, 14])],
                          [helper.make_empty_tensor_value_info("y")],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_tasks_are_what_the_executor_compiles(tmp_path: Path) -> None:
    m = _model()
    tasks = extract_tasks(m)
    assert sorted(t.template for t in tasks) == ["conv2d_nchw", "dense", "depthwise_conv2d_nchw"]
    conv = next(t for t in tasks if t.template == "conv2d_nchw")
    assert conv.args[5:] == (False, "relu", "float32", True, False)  # no bias, relu, prepacked, no shortcut
    assert conv.flop == 2 * 16 * 8 * 9 * 14 * 14
    exe = tex.compile(m)
    assert sorted(exe.kernel_kinds)[:3] == ["conv2d_nchw", "dense", "depthwise_conv2d_nchw"]


def test_tune_a_model_then_compile_with_its_log(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                runner_flushes: list[bool]) -> None:
    m = _model()
    path = tmp_path / "small.onnx"
    onnx.save(m, path)
    log = tmp_path / "small.jsonl"
    argv = ["tune", str(path), "--trials", "12", "--tuner", "xgb", "--log", str(log), "--seed", "0",
            "--parallel", "1", "--number", "2", "--repeat", "2"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "of the model's kernel time" in err
    assert runner_flushes == [True]  # a model's kernels are timed with cold weights by default
    records = tune.load_records(log)
    names = {r.task for r in records}
    assert names == {"conv2d_nchw", "depthwise_conv2d_nchw", "dense"}
    best = tune.pick_best(records)
    conv_best = next(r for k, r in best.items() if k[0] == "conv2d_nchw")
    # the compiled conv packs its weight with the tuned blocks
    exe = tex.compile(str(path), tuning_log=str(log))
    packed = [a for a in exe.plan.constants.values() if a.ndim == 6]
    assert len(packed) == 1
    assert packed[0].shape[4:] == (conv_best.config["ic_bn"], conv_best.config["oc_bn"])
    x = R.standard_normal((1, 8, 14, 14)).astype(np.float32)
    np.testing.assert_allclose(exe.run({"x": x})["y"], ort_run(m, {"x": x})[0], rtol=1e-4, atol=1e-4)


def test_split_budget_examples() -> None:
    assert split_budget(100, [3.0, 1.0]) == [75, 25]
    assert split_budget(10, [1.0, 0.0, 0.0], floor=2) == [6, 2, 2]
    assert split_budget(5, [0.0, 0.0]) == [3, 2]


@given(total=st.integers(0, 500), shares=st.lists(st.floats(0, 1e3), min_size=1, max_size=12),
       floor=st.integers(0, 8))
@settings(max_examples=200, deadline=None)
def test_split_budget_properties(total: int, shares: list[float], floor: int) -> None:
    got = split_budget(total, shares, floor)
    assert len(got) == len(shares) and min(got) >= floor
    assert sum(got) == max(total, floor * len(shares))
    if sum(shares) > 0:  # a task with a larger share never gets fewer trials
        for a in range(len(shares)):
            for b in range(len(shares)):
                if shares[a] > shares[b]:
                    assert got[a] >= got[b]


def test_cli_compile_to_a_library_then_run_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = _model()
    path = tmp_path / "small.onnx"
    onnx.save(m, path)
    lib = tmp_path / "small.so"
    assert main(["compile", str(path), "-o", str(lib)]) == 0
    assert lib.exists() and lib.with_suffix(".h").exists()
    x = R.standard_normal((1, 8, 14, 14)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    capsys.readouterr()
    assert main(["run", str(lib), "--input", f"x={tmp_path / 'x.npy'}", "--output", str(out)]) == 0
    np.testing.assert_allclose(np.load(out)["y"], ort_run(m, {"x": x})[0], rtol=1e-4, atol=1e-4)
    assert main(["run", str(lib)]) == 2
    assert "missing --input for x" in capsys.readouterr().err
