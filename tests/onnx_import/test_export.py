"""Model export from an ExecutionPlan: buffers mapped to inputs/outputs/constants/arena, views, copies, C entry."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import tex
from tex.onnx_import.export import export_model, plan_to_graph
from tex.onnx_import.plan import ExecutionPlan, PlanBuffer, PlanIO, PlanKernel, PlanStep
from tex.targets import Module
from tex.targets.export import find_compiler
from tex.targets.export_graph import Ref, Space

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="no C compiler (cc/gcc/clang) to link libraries")


def matmul(m: int, k: int, n: int) -> Module:
    X = tex.placeholder((m, k), name="X")
    W = tex.placeholder((k, n), name="W")
    r = tex.reduce_axis((0, k), name="r")
    Y = tex.compute((m, n), lambda i, j: tex.sum(X[i, r] * W[r, j], axis=r), name="Y")
    return tex.build(tex.create_schedule(Y), [X, W, Y], name="MatMul_0")


def bias_relu(m: int, n: int) -> Module:
    Y = tex.placeholder((m, n), name="Y")
    b = tex.placeholder((n,), name="b")
    Z = tex.compute((m, n), lambda i, j: tex.max(Y[i, j] + b[j], tex.const(0.0, "float32")), name="Z")
    return tex.build(tex.create_schedule(Z), [Y, b, Z], name="Add_Relu")


def small_plan(w: np.ndarray, b: np.ndarray) -> ExecutionPlan:
    """x(2,6) @ w -> y; relu(y + b) -> z; relu(z + b) -> out; outputs: out, and z reshaped to (8,) (a view)."""
    mk, br = matmul(2, 6, 4), bias_relu(2, 4)
    kernels = [PlanKernel("MatMul_0", mk.func, mk, ("MatMul_0",)),
               PlanKernel("Add_Relu", br.func, br, ("Add_1", "Relu_2"))]  # same kernel used twice
    buffers = [
        PlanBuffer(0, "x", (2, 6), "float32", "input", 0),
        PlanBuffer(1, "w", (6, 4), "float32", "constant", 1),
        PlanBuffer(2, "y", (2, 4), "float32", "intermediate", 2, 0),
        PlanBuffer(3, "z", (2, 4), "float32", "intermediate", 2, 64),  # shares storage 2 at another offset
        PlanBuffer(4, "b", (4,), "float32", "constant", 3),
        PlanBuffer(5, "z_flat", (8,), "float32", "output", 2, 64, view_of=3),
        PlanBuffer(6, "out", (2, 4), "float32", "output", 4),
    ]
    steps = [PlanStep(0, (0, 1, 2)), PlanStep(1, (2, 4, 3)), PlanStep(1, (3, 4, 6))]
    return ExecutionPlan(kernels, steps, buffers, storage_sizes=[64, 128, 128, 64, 64],
                         constants={1: w, 4: b},
                         inputs=[PlanIO("x", 0, (2, 6), "float32")],
                         outputs=[PlanIO("out", 6, (2, 4), "float32"), PlanIO("z_flat", 5, (8,), "float32")])


def reference(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    z = np.maximum(x @ w + b, 0)
    return [np.maximum(z + b, 0), z.ravel()]


@pytest.fixture(scope="module")
def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 4)).astype("float32"), rng.standard_normal(4).astype("float32")


def test_plan_to_graph_places_buffers(weights: tuple[np.ndarray, np.ndarray]) -> None:
    g = plan_to_graph(small_plan(*weights), "small")
    assert g.steps[0] == (0, (Ref(Space.INPUT, 0), Ref(Space.CONST, 0), Ref(Space.ARENA, offset=0)))
    assert g.steps[1] == (1, (Ref(Space.ARENA, offset=0), Ref(Space.CONST, 1), Ref(Space.ARENA, offset=64)))
    assert g.steps[2][1][2] == Ref(Space.OUTPUT, 0)
    assert g.copies == [(Ref(Space.ARENA, offset=64), 1)]  # the view output is copied out of the arena
    assert g.arena_bytes == 128


def test_export_model_round_trip_and_c(weights: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    path = export_model(small_plan(*weights), tmp_path / "small.so", name="small")
    x = np.random.default_rng(1).standard_normal((2, 6)).astype("float32")
    model = tex.load_module(path)
    for got, want in zip(model(x), reference(x, *weights)):  # type: ignore[operator]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    (tmp_path / "main.c").write_text(r"""
#include <stdio.h>
#include "small.h"
int main(void) {
  float x[12], out[8], zf[8];
  FILE* f = fopen("x.bin", "rb"); if (fread(x, sizeof x, 1, f) != 1) return 10; fclose(f);
  if (small_run(x, out, zf) != 0) return 11;
  f = fopen("o.bin", "wb"); fwrite(out, sizeof out, 1, f); fwrite(zf, sizeof zf, 1, f); fclose(f);
  return 0;
}
""")
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    cc = find_compiler()
    assert cc is not None
    subprocess.run([cc, "-O2", "-Wall", "-Werror", f"-I{tmp_path}", "-o", str(tmp_path / "main"),
                    str(tmp_path / "main.c"), str(path), f"-Wl,-rpath,{tmp_path}"], check=True)
    proc = subprocess.run([str(tmp_path / "main")], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = np.frombuffer((tmp_path / "o.bin").read_bytes(), "float32")
    want = reference(x, *weights)
    np.testing.assert_allclose(out[:8].reshape(2, 4), want[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[8:], want[1], rtol=1e-5, atol=1e-6)


def test_export_model_errors(weights: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"expected an ExecutionPlan or an executor with \.plan, got int"):
        export_model(3, tmp_path / "m.so")
    plan = small_plan(*weights)
    plan.target = "opencl"
    with pytest.raises(NotImplementedError, match="only 'llvm' models export to a shared library, got 'opencl'"):
        export_model(plan, tmp_path / "m.so")


def small_cnn() -> tuple[object, dict[str, np.ndarray]]:
    """Conv+Relu -> MaxPool (also an output) -> Flatten (a view) -> MatMul -> Softmax, random weights."""
    import onnx
    from onnx import TensorProto, numpy_helper
    from onnx import helper as h

    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 3, 3, 3)).astype("float32")
    b = rng.standard_normal(8).astype("float32")
    f = rng.standard_normal((8 * 6 * 6, 10)).astype("float32")
    nodes = [h.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["r"]),
             h.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             h.make_node("Flatten", ["p"], ["f"]), h.make_node("MatMul", ["f", "F"], ["m"]),
             h.make_node("Softmax", ["m"], ["y"])]
    g = h.make_graph(nodes, "small_cnn", [h.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 12, 12])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10]),
                      h.make_tensor_value_info("p", TensorProto.FLOAT, [2, 8, 6, 6])],
                     [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (b, "B"), (f, "F"))])
    model = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, {"x": rng.standard_normal((2, 3, 12, 12)).astype("float32")}


C_CNN = r"""
#include <stdio.h>
#include "cnn.h"
int main(void) {
  static float x[2 * 3 * 12 * 12], y[2 * 10], p[2 * 8 * 6 * 6];
  FILE* f = fopen("x.bin", "rb"); if (fread(x, sizeof x, 1, f) != 1) return 10; fclose(f);
  for (int r = 0; r < 3; r++) if (cnn_run(x, y, p) != 0) return 11;  /* planned buffers are reused */
  f = fopen("o.bin", "wb"); fwrite(y, sizeof y, 1, f); fwrite(p, sizeof p, 1, f); fclose(f);
  return 0;
}
"""


def test_compiled_onnx_model_from_c_matches_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model, feeds = small_cnn()
    exe = tex.compile(model)
    path = exe.export_library(tmp_path / "cnn.so", name="cnn")
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    for got, ref in zip(tex.load_module(path)(feeds["x"]), want):  # type: ignore[operator]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    (tmp_path / "main.c").write_text(C_CNN)
    (tmp_path / "x.bin").write_bytes(feeds["x"].tobytes())
    cc = find_compiler()
    assert cc is not None
    subprocess.run([cc, "-O2", "-Wall", "-Werror", f"-I{tmp_path}", "-o", str(tmp_path / "main"),
                    str(tmp_path / "main.c"), str(path), f"-Wl,-rpath,{tmp_path}"], check=True)
    proc = subprocess.run([str(tmp_path / "main")], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = np.frombuffer((tmp_path / "o.bin").read_bytes(), "float32")
    np.testing.assert_allclose(out[:20].reshape(2, 10), want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[20:].reshape(2, 8, 6, 6), want[1], rtol=1e-4, atol=1e-5)
