"""Export: shared libraries with a C header, load_module round trips, a C program calling them, DLTensor errors."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tex
from tests.targets.kernels import buf, c, load, loop, var
from tex.ir.nodes import Buffer, PrimFunc
from tex.targets import Module, Target
from tex.targets.export import find_compiler, read_metadata

pytestmark = pytest.mark.skipif(find_compiler() is None, reason="no C compiler (cc/gcc/clang) to link libraries")


def gemm_module(n: int = 64, name: str = "gemm") -> Module:
    A = tex.placeholder((n, n), name="A")
    B = tex.placeholder((n, n), name="B")
    k = tex.reduce_axis((0, n), name="k")
    C = tex.compute((n, n), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    CC = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, 8, 16)
    s[CC].compute_at(s[C], jo)
    ci, cj = s[CC].op.axis
    (ck,) = s[CC].op.reduce_axis
    s[CC].reorder(ck, ci, cj)
    s[CC].vectorize(cj)
    s[C].vectorize(ji)
    s[C].parallel(io)
    return tex.build(s, [A, B, C], name=name)


def exp_module(name: str = "scaled_exp") -> Module:
    """Y = exp(X) * 2 over (n, 16): symbolic n, parallel rows, libmvec vector exp."""
    n = tex.var("n")
    X = tex.placeholder((n, 16), name="X")
    Y = tex.compute((n, 16), lambda i, j: tex.exp(X[i, j]) * 2.0, name="Y")
    s = tex.create_schedule(Y)
    s[Y].vectorize(s[Y].op.axis[1])
    s[Y].parallel(s[Y].op.axis[0])
    return tex.build(s, [X, Y], name=name)


@pytest.fixture(scope="module")
def gemm() -> Module:
    return gemm_module()


@pytest.fixture(scope="module")
def gemm_lib(gemm: Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gemm") / "gemm.so"
    gemm.export_library(str(path))
    return path


@pytest.fixture(scope="module")
def ops_lib(gemm: Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ops") / "ops.so"
    tex.export_library([gemm, exp_module()], path)
    return path


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def run_c(src: str, lib: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Compile `src` with the system compiler against `lib` (its header next to it) and run it in `tmp`."""
    main = tmp / "main.c"
    main.write_text(src)
    exe = tmp / "main"
    cc = find_compiler()
    assert cc is not None
    build = subprocess.run([cc, "-O2", "-Wall", "-Werror", f"-I{lib.parent}", "-o", str(exe), str(main), str(lib),
                            f"-Wl,-rpath,{lib.parent}"], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=tmp, timeout=60)


# ------------------------------------------------------------ the library and its header
def test_header_declares_entries(gemm_lib: Path) -> None:
    h = gemm_lib.with_suffix(".h").read_text()
    assert "int gemm(const float* A, const float* B, float* C);" in h
    assert "int gemm_dl(DLTensor* A, DLTensor* B, DLTensor* C);" in h
    assert "const char* gemm_last_error(void);" in h
    assert "C: float32(64, 64) (output)" in h


def test_only_entries_are_exported(gemm_lib: Path) -> None:
    out = subprocess.run(["nm", "-D", "--defined-only", str(gemm_lib)], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("nm is not available")
    names = {line.split()[-1] for line in out.stdout.splitlines() if line.strip()}
    assert names == {"gemm", "gemm_dl", "gemm_last_error", "gemm__pyobj", "tex_metadata", "tex_pyobj_offset"}


def test_metadata_records_signature(gemm_lib: Path) -> None:
    meta = read_metadata(gemm_lib)
    (k,) = meta["kernels"]
    assert k["name"] == "gemm"
    assert [p["buffer"] for p in k["params"]] == ["A", "B", "C"]
    assert [p["written"] for p in k["params"]] == [False, False, True]
    assert k["params"][0]["shape"] == [64, 64]


def test_load_module_round_trip(gemm: Module, gemm_lib: Path) -> None:
    g = tex.load_module(gemm_lib)
    assert isinstance(g, Module) and g.name == "gemm"
    a, b = rand(64, 64), rand(64, 64, seed=1)
    c1, c2 = np.zeros((64, 64), "float32"), np.zeros((64, 64), "float32")
    g(a, b, c1)
    gemm(a, b, c2)
    np.testing.assert_allclose(c1, a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(c1, c2)
    assert g.time_evaluator(number=2, repeat=1)(a, b, c1).mean > 0


def test_loaded_module_checks_arguments(gemm_lib: Path) -> None:
    g = tex.load_module(gemm_lib)
    a, c = rand(64, 64), np.zeros((64, 64), "float32")
    with pytest.raises(ValueError, match=r"gemm: argument 'B' \(#2\) must have shape \(64, 64\), got \(64, 32\)"):
        g(a, rand(64, 32), c)
    with pytest.raises(TypeError, match=r"gemm: argument 'A' \(#1\) must have dtype float32, got float64"):
        g(a.astype("float64"), a, c)
    with pytest.raises(ValueError, match=r"argument 'C' \(#3\) is written by the kernel but the array is read-only"):
        c.flags.writeable = False
        g(a, a.copy(), c)
    with pytest.raises(TypeError, match=r"gemm: expected 3 arguments \(A, B, C\), got 2"):
        g(a, a)


def test_load_module_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tex.load_module(tmp_path / "missing.so")
    cc = find_compiler()
    assert cc is not None
    (tmp_path / "other.c").write_text("int f(void) { return 1; }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-o", str(tmp_path / "other.so"), str(tmp_path / "other.c")], check=True)
    with pytest.raises(ValueError, match=r"not a tex library \(no 'tex_metadata' symbol\)"):
        tex.load_module(tmp_path / "other.so")


# ------------------------------------------------------------ several kernels, symbolic shapes, vector math
def test_several_kernels_in_one_library(ops_lib: Path) -> None:
    lib = tex.load_module(ops_lib)
    assert isinstance(lib, tex.Library) and list(lib) == ["gemm", "scaled_exp"]
    a = rand(64, 64)
    c = np.zeros((64, 64), "float32")
    lib["gemm"](a, a, c)
    np.testing.assert_allclose(c, a @ a, rtol=1e-4, atol=1e-4)
    x = rand(37, 16)
    y = np.zeros_like(x)
    lib.scaled_exp(x, y, 37)
    np.testing.assert_allclose(y, np.exp(x) * 2, rtol=1e-5)
    with pytest.raises(ValueError, match=r"scaled_exp: argument 'Y' \(#2\) must have shape \(n, 16\) with n = 37"):
        lib.scaled_exp(x, np.zeros((36, 16), "float32"), 37)
    with pytest.raises(KeyError, match="no kernel 'conv'; it has gemm, scaled_exp"):
        lib["conv"]
    h = ops_lib.with_suffix(".h").read_text()
    assert "int scaled_exp(const float* X, float* Y, int32_t n);" in h


def test_duplicate_and_bad_names(gemm: Module, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two kernels are named 'gemm'"):
        tex.export_library([gemm, gemm_module()], tmp_path / "dup.so")
    with pytest.raises(ValueError, match="give at least one built kernel"):
        tex.export_library([], tmp_path / "none.so")
    with pytest.raises(TypeError, match=r"expected modules from tex\.build, got str"):
        tex.export_library(["gemm"], tmp_path / "bad.so")  # type: ignore[list-item]


def test_shape_variables_outside_params(tmp_path: Path) -> None:
    """A hand-built PrimFunc whose shape variable m is no parameter: a trailing int of the plain entry."""
    m = var("m", "int32")
    X, Y = buf("X", (m, 2)), buf("Y", (m * 2,))
    i = var("i")
    from tex.ir.nodes import Store

    body = loop(i, m * 2, Store(Y, (i,), load(X, i // 2, i % 2) + c(1.0, "float32")))
    f = tex.build(PrimFunc("flat", (X, Y), body))
    f.export_library(tmp_path / "flat.so")
    assert "int flat(const float* X, float* Y, int32_t m);" in (tmp_path / "flat.h").read_text()
    g = tex.load_module(tmp_path / "flat.so")
    x = rand(5, 2)
    y = np.zeros(10, "float32")
    g(x, y)
    np.testing.assert_allclose(y, x.ravel() + 1)
    with pytest.raises(ValueError, match=r"'Y' \(#2\) must have shape \(m \* 2,\) = \(10,\), got \(9,\)"):
        g(x, np.zeros(9, "float32"))
    assert isinstance(g.func.params[1], Buffer)
    lib = ctypes.CDLL(str(tmp_path / "flat.so"))  # the DLTensor entry binds m from X and checks Y = m * 2
    lib.flat_last_error.restype = ctypes.c_char_p
    keep: list[object] = []
    y[:] = 0
    assert lib.flat_dl(ctypes.byref(dltensor(x, keep)), ctypes.byref(dltensor(y, keep))) == 0
    np.testing.assert_allclose(y, x.ravel() + 1)
    assert lib.flat_dl(ctypes.byref(dltensor(x, keep)), ctypes.byref(dltensor(y[:9], keep))) == -2
    assert lib.flat_last_error() == b"flat: argument 'Y' (#2) must have shape (m * 2,), got (9,)"


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.integers(1, 9), cols=st.integers(1, 24), factor=st.integers(1, 8), dtype=st.sampled_from(
    ["float32", "float64", "int32"]))
def test_random_elementwise_round_trip(tmp_path: Path, rows: int, cols: int, factor: int, dtype: str) -> None:
    X = tex.placeholder((rows, cols), name="X", dtype=dtype)
    Y = tex.placeholder((rows, cols), name="Y", dtype=dtype)
    Z = tex.compute((rows, cols), lambda i, j: X[i, j] * Y[i, j] + X[i, j], name="Z")
    s = tex.create_schedule(Z)
    jo, ji = s[Z].split(s[Z].op.axis[1], factor)
    s[Z].vectorize(ji)
    f = tex.build(s, [X, Y, Z], name="fma")
    path = tmp_path / f"fma_{rows}_{cols}_{factor}_{dtype}.so"
    f.export_library(path)
    g = tex.load_module(path)
    rng = np.random.default_rng(rows * 31 + cols)
    x, y = (rng.integers(-50, 50, (rows, cols)).astype(dtype) for _ in range(2))
    z = np.zeros((rows, cols), dtype)
    g(x, y, z)
    np.testing.assert_array_equal(z, x * y + x)


def test_opencl_module_not_exportable_yet(gemm_module_copy: Module, tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="OpenCL export needs the OpenCL backend's launch geometry"):
        gemm_module_copy.export_library(tmp_path / "k.so")


@pytest.fixture
def gemm_module_copy() -> Module:
    m = gemm_module(8, "small")
    m.target = Target("opencl")  # stands in for an OpenCL build until that backend lands
    return m


# ------------------------------------------------------------ from C
C_GEMM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gemm.h"
#define N 64
static int64_t shape[2] = {N, N}, bad_shape[2] = {N, 32}, strides[2] = {1, N};
static DLTensor tensor(float* p, int64_t* sh) {
  DLTensor t; memset(&t, 0, sizeof t); t.data = p; t.device.device_type = 1; t.ndim = 2;
  t.dtype.code = 2; t.dtype.bits = 32; t.dtype.lanes = 1; t.shape = sh; return t;
}
int main(void) {
  float *a = aligned_alloc(64, sizeof(float) * N * N), *b = aligned_alloc(64, sizeof(float) * N * N);
  float *c = aligned_alloc(64, sizeof(float) * N * N), *d = aligned_alloc(64, sizeof(float) * N * N);
  FILE* f = fopen("in.bin", "rb");
  if (fread(a, sizeof(float), N * N, f) != N * N || fread(b, sizeof(float), N * N, f) != N * N) return 10;
  fclose(f);
  if (gemm(a, b, c) != 0) return 11;
  DLTensor A = tensor(a, shape), B = tensor(b, shape), C = tensor(d, shape);
  if (gemm_dl(&A, &B, &C) != 0) { printf("dl: %s\n", gemm_last_error()); return 12; }
  f = fopen("out.bin", "wb"); fwrite(c, sizeof(float), N * N, f); fwrite(d, sizeof(float), N * N, f); fclose(f);
  DLTensor Bad = tensor(b, bad_shape);
  printf("shape %d %s\n", gemm_dl(&A, &Bad, &C), gemm_last_error());
  Bad = tensor(b, shape); Bad.dtype.bits = 64;
  printf("dtype %d %s\n", gemm_dl(&A, &Bad, &C), gemm_last_error());
  Bad = tensor(b, shape); Bad.strides = strides;
  printf("strides %d %s\n", gemm_dl(&A, &Bad, &C), gemm_last_error());
  printf("null %d %s\n", gemm_dl(&A, &B, NULL), gemm_last_error());
  Bad = tensor(b, shape); Bad.device.device_type = 2;
  printf("device %d %s\n", gemm_dl(&A, &Bad, &C), gemm_last_error());
  return 0;
}
"""


def test_c_program_calls_exported_gemm(gemm_lib: Path, tmp_path: Path) -> None:
    a, b = rand(64, 64), rand(64, 64, seed=1)
    (tmp_path / "in.bin").write_bytes(a.tobytes() + b.tobytes())
    proc = run_c(C_GEMM, gemm_lib, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = np.frombuffer((tmp_path / "out.bin").read_bytes(), "float32").reshape(2, 64, 64)
    np.testing.assert_allclose(out[0], a @ b, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(out[0], out[1])
    lines = proc.stdout.splitlines()
    assert lines[0] == "shape -2 gemm: argument 'B' (#2) must have shape (64, 64), got (64, 32)"
    assert lines[1] == ("dtype -2 gemm: argument 'B' (#2) must have dtype float32, "
                        "got DLDataType(code=2, bits=64, lanes=1)")
    assert lines[2].startswith("strides -2 gemm: argument 'B' (#2) must be C-contiguous (row-major, dense)")
    assert lines[3] == "null -2 gemm: argument 'C' (#3) is NULL"
    assert lines[4] == "device -2 gemm: argument 'B' (#2) must be on the CPU (kDLCPU), got device type 2"


# ------------------------------------------------------------ the DLTensor entry through ctypes
class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("code", ctypes.c_uint8), ("bits", ctypes.c_uint8),
                ("lanes", ctypes.c_uint16), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


def dltensor(a: np.ndarray, keep: list[object]) -> DLTensor:
    shape = (ctypes.c_int64 * a.ndim)(*a.shape)
    strides = (ctypes.c_int64 * a.ndim)(*(s // a.itemsize for s in a.strides))
    keep += [shape, strides, a]
    code = {"f": 2, "i": 0, "u": 1, "b": 6}[a.dtype.kind]
    return DLTensor(a.ctypes.data, 1, 0, a.ndim, code, a.itemsize * 8, 1, shape, strides, 0)


def test_dl_entry_symbolic_shapes(ops_lib: Path) -> None:
    lib = ctypes.CDLL(str(ops_lib))
    fn = lib.scaled_exp_dl
    fn.argtypes = [ctypes.POINTER(DLTensor), ctypes.POINTER(DLTensor), ctypes.c_int32]
    lib.scaled_exp_last_error.restype = ctypes.c_char_p
    keep: list[object] = []
    x = rand(7, 16)
    y = np.zeros_like(x)
    assert fn(dltensor(x, keep), dltensor(y, keep), 7) == 0
    np.testing.assert_allclose(y, np.exp(x) * 2, rtol=1e-5)
    assert fn(dltensor(x, keep), dltensor(np.zeros((6, 16), "float32"), keep), 7) == -2
    assert lib.scaled_exp_last_error().decode() == (
        "scaled_exp: argument 'Y' (#2) must have shape (n, 16), got (6, 16)")
    wide = np.zeros((7, 32), "float32")[:, ::2]  # strided view: not dense
    assert fn(dltensor(x, keep), dltensor(wide, keep), 7) == -2
    assert "must be C-contiguous" in lib.scaled_exp_last_error().decode()
    assert fn(dltensor(x.astype("float64"), keep), dltensor(y, keep), 7) == -2
    assert "must have dtype float32" in lib.scaled_exp_last_error().decode()


C_THREADS = r"""
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "ops.h"
int main(void) {
  static float x[64 * 16], y[64 * 16];
  for (int i = 0; i < 64 * 16; i++) x[i] = (float)i / 1024;
  if (scaled_exp(x, y, 64) != 0) return 11;
  for (int i = 0; i < 64 * 16; i++) if (fabsf(y[i] - 2 * expf(x[i])) > 1e-5f * y[i]) return 12;
  FILE* f = fopen("/proc/self/status", "r"); char line[256];
  while (fgets(line, sizeof line, f)) if (!strncmp(line, "Threads:", 8)) fputs(line, stdout);
  return 0;
}
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to count threads")
def test_parallel_loops_use_libgomp_team_in_c(ops_lib: Path, tmp_path: Path) -> None:
    """A C host gets libgomp's thread team (OMP_NUM_THREADS is honoured) and libmvec's vector exp."""
    env = {**os.environ, "OMP_NUM_THREADS": "3"}
    main = tmp_path / "main.c"
    main.write_text(C_THREADS)
    cc = find_compiler()
    assert cc is not None
    subprocess.run([cc, "-O2", f"-I{ops_lib.parent}", "-o", str(tmp_path / "main"), str(main), str(ops_lib),
                    f"-Wl,-rpath,{ops_lib.parent}", "-lm"], check=True)
    proc = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Threads:", "3"]


def test_load_module_in_a_fresh_process_needs_no_compiler(gemm_lib: Path) -> None:
    """Another Python process runs the library without llvmlite (no compiler at run time)."""
    code = ("import sys, numpy as np, tex\n"
            f"g = tex.load_module({str(gemm_lib)!r})\n"
            "a = np.random.default_rng(0).standard_normal((64, 64)).astype('float32')\n"
            "c = np.zeros((64, 64), 'float32')\n"
            "g(a, a, c)\n"
            "assert np.allclose(c, a @ a, rtol=1e-4, atol=1e-4)\n"
            "print('llvmlite' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
