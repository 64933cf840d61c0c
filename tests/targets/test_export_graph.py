"""Whole-graph export: kernel calls over planned memory -> one C entry point, checked from C and from Python."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import tex
from tex.targets import Module
from tex.targets.export import find_compiler
from tex.targets.export_graph import Graph, GraphIO, Ref, Space, export_graph

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="no C compiler (cc/gcc/clang) to link libraries")


def matmul(m: int, k: int, n: int) -> Module:
    X = tex.placeholder((m, k), name="X")
    W = tex.placeholder((k, n), name="W")
    r = tex.reduce_axis((0, k), name="r")
    Y = tex.compute((m, n), lambda i, j: tex.sum(X[i, r] * W[r, j], axis=r), name="Y")
    s = tex.create_schedule(Y)
    s[Y].parallel(s[Y].op.axis[0])
    return tex.build(s, [X, W, Y], name="matmul")


def bias_tanh(m: int, n: int) -> Module:
    Y = tex.placeholder((m, n), name="Y")
    b = tex.placeholder((n,), name="b")
    Z = tex.compute((m, n), lambda i, j: tex.tanh(Y[i, j] + b[j]), name="Z")
    s = tex.create_schedule(Z)
    s[Z].vectorize(s[Z].op.axis[1])
    return tex.build(s, [Y, b, Z], name="bias_tanh")


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """x -> tanh(x @ W1 + b1) -> tanh(. @ W2 + b2) = y; also returns h1 (an intermediate copied out)."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((8, 16)).astype("float32"), rng.standard_normal(16).astype("float32")
    w2, b2 = rng.standard_normal((16, 4)).astype("float32"), rng.standard_normal(4).astype("float32")
    kernels = [matmul(3, 8, 16), bias_tanh(3, 16), matmul(3, 16, 4), bias_tanh(3, 4)]
    a0, a1 = Ref(Space.ARENA, offset=0), Ref(Space.ARENA, offset=256)  # 3*16*4 = 192 bytes each, 64-aligned
    steps = [
        (0, (Ref(Space.INPUT, 0), Ref(Space.CONST, 0), a0)),
        (1, (a0, Ref(Space.CONST, 1), a1)),            # h1 lives in the arena at 256
        (2, (a1, Ref(Space.CONST, 2), a0)),            # a0 is reused: x @ W1 is dead
        (3, (a0, Ref(Space.CONST, 3), Ref(Space.OUTPUT, 0))),
    ]
    g = Graph("mlp", kernels, steps, inputs=[GraphIO("x.in", (3, 8), "float32")],
              outputs=[GraphIO("y", (3, 4), "float32"), GraphIO("h1", (3, 16), "float32")],
              constants=[w1, b1, w2, b2], arena_bytes=512, copies=[(a1, 1)])
    path = tmp_path_factory.mktemp("mlp") / "mlp.so"
    export_graph(g, path)
    return path, [w1, b1, w2, b2]


def reference(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> list[np.ndarray]:
    h1 = np.tanh(x @ w1 + b1)
    return [np.tanh(h1 @ w2 + b2), h1]


def test_header(mlp: tuple[Path, list[np.ndarray]]) -> None:
    h = mlp[0].with_suffix(".h").read_text()
    assert "int mlp_run(const float* x_in, float* y, float* h1);" in h
    assert "mlp_t* mlp_create(void);" in h
    assert "int mlp_run_dl(DLTensor* x_in, DLTensor* y, DLTensor* h1);" in h
    assert "input  'x.in': float32(3, 8)" in h


def test_load_module_runs_model(mlp: tuple[Path, list[np.ndarray]]) -> None:
    path, weights = mlp
    model = tex.load_module(path)
    x = np.random.default_rng(1).standard_normal((3, 8)).astype("float32")
    for got, want in zip(model(x), reference(x, *weights)):  # type: ignore[operator]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"mlp: input 'x.in' \(#1\) must have shape \(3, 8\), got \(3, 7\)"):
        model(x[:, :7])  # type: ignore[operator]
    with pytest.raises(TypeError, match=r"mlp: expected 1 inputs \(x.in\), got 2"):
        model(x, x)  # type: ignore[operator]


C_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "mlp.h"
int main(void) {
  float x[24], y[12], h1[48];
  FILE* f = fopen("x.bin", "rb"); if (fread(x, sizeof x, 1, f) != 1) return 10; fclose(f);
  if (mlp_run(x, y, h1) != 0) return 11;
  mlp_t* m = mlp_create(); float y2[12], h2[48];
  if (mlp_run_with(m, x, y2, h2) != 0) return 12;
  mlp_destroy(m);
  int64_t xs[2] = {3, 8}, ys[2] = {3, 4}, hs[2] = {3, 16}, bad[2] = {3, 7};
  DLTensor X = {x, {1, 0}, 2, {2, 32, 1}, xs, NULL, 0}, Y = {y2, {1, 0}, 2, {2, 32, 1}, ys, NULL, 0};
  DLTensor H = {h2, {1, 0}, 2, {2, 32, 1}, hs, NULL, 0};
  if (mlp_run_dl(&X, &Y, &H) != 0) return 13;
  X.shape = bad;
  printf("%d %s\n", mlp_run_dl(&X, &Y, &H), mlp_last_error());
  X.shape = xs; X.dtype.bits = 64;
  printf("%d %s\n", mlp_run_dl(&X, &Y, &H), mlp_last_error());
  f = fopen("y.bin", "wb"); fwrite(y, sizeof y, 1, f); fwrite(h1, sizeof h1, 1, f); fwrite(y2, sizeof y2, 1, f);
  fclose(f);
  return 0;
}
"""


def test_c_program_runs_model(mlp: tuple[Path, list[np.ndarray]], tmp_path: Path) -> None:
    path, weights = mlp
    x = np.random.default_rng(2).standard_normal((3, 8)).astype("float32")
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "main.c").write_text(C_MAIN)
    cc = find_compiler()
    assert cc is not None
    subprocess.run([cc, "-O2", "-Wall", "-Werror", f"-I{path.parent}", "-o", str(tmp_path / "main"),
                    str(tmp_path / "main.c"), str(path), f"-Wl,-rpath,{path.parent}"], check=True)
    proc = subprocess.run([str(tmp_path / "main")], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = np.frombuffer((tmp_path / "y.bin").read_bytes(), "float32")
    y, h1 = reference(x, *weights)
    np.testing.assert_allclose(out[:12].reshape(3, 4), y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[12:60].reshape(3, 16), h1, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out[60:], out[:12])  # y2: from the DLTensor entry
    assert proc.stdout.splitlines() == [
        "-2 mlp: input 'x.in' (#1) must have shape (3, 8), got (3, 7)",
        "-2 mlp: input 'x.in' (#1) must have dtype float32, got DLDataType(code=2, bits=64, lanes=1)"]


def test_graph_errors(tmp_path: Path) -> None:
    k = bias_tanh(2, 2)
    g = Graph("bad-name", [k], [], inputs=[], outputs=[])
    with pytest.raises(ValueError, match="model name 'bad-name' is not a C identifier"):
        export_graph(g, tmp_path / "g.so")
    g = Graph("g", [k], [(0, (Ref(Space.INPUT, 0),))], inputs=[GraphIO("x", (2, 2), "float32")], outputs=[])
    with pytest.raises(NotImplementedError, match=r"step 0 \(bias_tanh\) must pass one buffer per parameter"):
        export_graph(g, tmp_path / "g.so")
