"""The runtime (argument checks, timing, sources), Target parsing and device listing."""

from __future__ import annotations

import builtins
import sys
import time

import numpy as np
import pytest

from tests.targets.kernels import buf, c, load, loop, map_func, var
from tex.ir.nodes import PrimFunc, Store
from tex.lang.expr import Cast, Var
from tex.targets import Target, TargetKind, TimeResult, build_func, list_devices

rng = np.random.default_rng(1)


@pytest.fixture(scope="module")
def gemm():
    """A corner of C = A @ B over (1024, 1024) arrays: the brief's example of an argument error."""
    M, K, N = 1024, 1024, 1024
    A, B, C = buf("A", (M, K)), buf("B", (K, N)), buf("C", (M, N))
    i, j, k = var("i"), var("j"), var("k")
    body = loop(i, 4, loop(j, 4, loop(k, 2, Store(C, (i, j), load(C, i, j) + load(A, i, k) * load(B, k, j)))))
    return build_func(PrimFunc("gemm", (A, B, C), body))


@pytest.fixture(scope="module")
def symbolic():
    n = var("n", "int32")
    A, B = buf("A", (Cast(n, "int64"), c(4))), buf("B", (Cast(n, "int64"), c(4)))
    i, j = var("i"), var("j")
    body = loop(i, Cast(n, "int64"), loop(j, 4, Store(B, (i, j), load(A, i, j) * c(2.0, "float32"))))
    return build_func(PrimFunc("scale", (A, B, n), body))


def _abc() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.zeros((1024, 1024), np.float32) for _ in range(3))  # type: ignore[return-value]


def test_wrong_count(gemm) -> None:
    a, b, _ = _abc()
    with pytest.raises(TypeError, match=r"^gemm: expected 3 arguments \(A, B, C\), got 2$"):
        gemm(a, b)


def test_wrong_shape_message_names_the_argument(gemm) -> None:
    a, _, cc = _abc()
    b = np.zeros((1024, 512), np.float32)
    msg = r"^gemm: argument 'B' \(#2\) must have shape \(1024, 1024\), got \(1024, 512\)$"
    with pytest.raises(ValueError, match=msg):
        gemm(a, b, cc)
    with pytest.raises(ValueError, match=r"argument 'A' \(#1\) must have shape \(1024, 1024\) \(2 dimensions\), got"):
        gemm(np.zeros(5, np.float32), b, cc)


def test_wrong_dtype(gemm) -> None:
    a, b, cc = _abc()
    with pytest.raises(TypeError, match=r"^gemm: argument 'C' \(#3\) must have dtype float32, got float64$"):
        gemm(a, b, cc.astype(np.float64))


def test_non_contiguous_read_only_aliased_and_non_arrays(gemm) -> None:
    a, b, cc = _abc()
    with pytest.raises(ValueError, match=r"argument 'A' \(#1\) must be C-contiguous"):
        gemm(np.zeros((1024, 1024), np.float32).T, b, cc)
    ro = cc.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"argument 'C' \(#3\) is written by the kernel but the array is read-only"):
        gemm(a, b, ro)
    sq = np.zeros((1024, 64), np.float32)
    X, Y = buf("X", (1024, 64)), buf("Y", (1024, 64))
    alias = build_func(PrimFunc("copy", (X, Y), Store(Y, (c(0), c(0)), load(X, c(0), c(0)))))
    with pytest.raises(ValueError, match=r"argument 'Y' \(#2\) overlaps the memory of argument 'X'"):
        alias(sq, sq)
    with pytest.raises(ValueError, match=r"argument 'Y' \(#2\) overlaps the memory of argument 'X'"):
        alias(sq, sq.reshape(-1)[:].reshape(1024, 64))
    with pytest.raises(TypeError, match=r"argument 'A' \(#1\) must be a numpy array .* got list"):
        gemm([[0.0]], b, cc)


def test_nothing_runs_when_a_later_argument_is_bad() -> None:
    f = map_func("inc", ["float32"], [("float32", lambda x: x + c(1.0, "float32"))], 8)
    m = build_func(f)
    x, y = np.ones(8, np.float32), np.zeros(8, np.float32)
    with pytest.raises(TypeError):
        m(x, y.astype(np.float64))
    m(x, y)
    np.testing.assert_array_equal(y, 2)


def test_symbolic_dims_bind_and_must_agree(symbolic) -> None:
    a = rng.random((5, 4), dtype=np.float32)
    out = np.zeros_like(a)
    symbolic(a, out, 5)
    np.testing.assert_array_equal(out, a * 2)
    msg = r"argument 'B' \(#2\) must have shape \(n, 4\) with n = 5 \(from argument 'n'\), got \(6, 4\)"
    with pytest.raises(ValueError, match=msg):
        symbolic(a, np.zeros((6, 4), np.float32), 5)
    with pytest.raises(ValueError, match=r"argument 'A' \(#1\) must have shape \(n, 4\) with n = 3"):
        symbolic(a, out, 3)
    with pytest.raises(TypeError, match=r"argument 'n' \(#3\) must be an integer \(int32\), got float"):
        symbolic(a, out, 5.0)
    with pytest.raises(ValueError, match=r"argument 'n' \(#3\) must fit in int32"):
        symbolic(a, out, 2**40)
    symbolic(a, out, np.int64(5))  # numpy integers are integers


def test_dlpack_and_buffer_protocol_arguments() -> None:
    f = map_func("inc", ["float32"], [("float32", lambda x: x + c(1.0, "float32"))], 4)
    m = build_func(f)

    class DLPackOnly:
        def __init__(self, arr: np.ndarray):
            self.arr = arr

        def __dlpack__(self, **kw):
            return self.arr.__dlpack__(**kw)

        def __dlpack_device__(self):
            return self.arr.__dlpack_device__()

    x = np.arange(4, dtype=np.float32)
    y = np.zeros(4, np.float32)
    m(DLPackOnly(x), memoryview(y))
    np.testing.assert_array_equal(y, x + 1)


def test_time_evaluator(gemm) -> None:
    a, b, cc = _abc()
    t = gemm.time_evaluator(number=3, repeat=4)(a, b, cc)
    assert isinstance(t, TimeResult)
    assert len(t.results) == 4 and all(r > 0 for r in t.results)
    assert t.min <= t.median <= max(t.results) and t.mean > 0 and t.std >= 0
    grown = gemm.time_evaluator(number=1, repeat=2, min_repeat_ms=5)(a, b, cc)
    assert grown.number > 1 and len(grown.results) == 2
    with pytest.raises(ValueError, match="number >= 1"):
        gemm.time_evaluator(number=0)


def test_time_evaluator_with_cache_flush(gemm) -> None:
    """Cold timing: the buffers but the first are evicted before each call; the kernel still computes the
    right result, and every round is timed (speed is measured in benchmarks/, not asserted here)."""
    a, b, cc = _abc()
    cold = gemm.time_evaluator(number=2, repeat=3, cache_flush=True)(a, b, cc)
    assert len(cold.results) == 3 and cold.number == 2 and all(r > 0 for r in cold.results)
    np.testing.assert_allclose(cc, a @ b, rtol=1e-3, atol=1e-3)


def test_cache_flush_keeps_the_data() -> None:
    """clflush writes dirty lines back: evicting a freshly written, unaligned range loses nothing."""
    from tex.targets.llvm.cacheflush import flusher
    x = np.zeros(100_003, np.float32)
    x[1:] = np.arange(100_002, dtype=np.float32)
    view = x[1:]  # not line-aligned: the first and last partial lines are flushed too
    flusher()(view.ctypes.data, view.nbytes)
    np.testing.assert_array_equal(view, np.arange(100_002, dtype=np.float32))
    flusher()(view.ctypes.data, 0)  # an empty range is a no-op


def test_get_source_and_export(gemm) -> None:
    assert "define" in gemm.get_source("ll") and "@gemm" in gemm.get_source("ll")
    assert "gemm:" in gemm.get_source("asm")
    assert gemm.get_source("ir").startswith("def gemm(A: float32[1024, 1024]")
    with pytest.raises(ValueError, match="get_source format must be 'll', 'asm' or 'ir', got 'cl'"):
        gemm.get_source("cl")
    assert gemm.kernel.object_code().startswith(b"\x7fELF")  # the hook export will use
    assert isinstance(gemm.func, PrimFunc) and gemm.target == Target.parse("llvm")


def test_tiny_kernel_call_overhead_is_small() -> None:
    f = map_func("tiny", ["float32", "float32"], [("float32", lambda x, y: x + y)], 4)
    m = build_func(f)
    x, y, z = (np.zeros(4, np.float32) for _ in range(3))
    m(x, y, z)
    n = 2000
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            m(x, y, z)
        best = min(best, (time.perf_counter() - t0) / n)
    assert best < 10e-6, f"{best * 1e6:.2f} us per call"


def test_kernel_named_like_a_libm_function() -> None:
    f = map_func("erf", ["float32"], [("float32", lambda x: x * c(2.0, "float32"))], 4)
    m = build_func(f)
    assert m.entry_name == "tex_erf"
    x, y = np.ones(4, np.float32), np.zeros(4, np.float32)
    m(x, y)
    np.testing.assert_array_equal(y, 2)


# ---------------------------------------------------------------- targets and devices

@pytest.mark.parametrize("text", ["llvm", "llvm -mcpu=skylake-avx512", "llvm -mcpu=skylake-avx512 -mattr=+avx2,+fma",
                                  "llvm -mattr=-avx512f", "opencl", "opencl -device=1",
                                  "opencl -device=rtx", "opencl -platform=NVIDIA -device=4090"])
def test_target_round_trips(text: str) -> None:
    t = Target.parse(text)
    assert str(t) == text and Target.parse(str(t)) == t


def test_target_fields_and_fingerprint() -> None:
    t = Target.parse("llvm -mcpu=skylake-avx512 -mattr=+avx2,+fma")
    assert t.kind == "llvm" and t.kind is TargetKind.LLVM
    assert t.mcpu == "skylake-avx512" and t.mattr == ("+avx2", "+fma")
    fp = Target.parse("llvm").fingerprint()
    assert fp["cpu"] and fp["llvm"].startswith("22") and "avx" in str(fp["features"])
    assert Target.parse("opencl -device=2").device == 2
    t = Target.parse("opencl -platform=NVIDIA -device=4090")  # a name with digits only is an index: 4090
    assert (t.platform, t.device, t.device_name) == ("NVIDIA", 4090, None)
    assert Target.parse("opencl -device=RTX").device_name == "RTX"
    assert Target("llvm -mcpu=znver4") == Target.parse("llvm -mcpu=znver4") == Target(TargetKind.LLVM, mcpu="znver4")
    with pytest.raises(ValueError, match="unknown target kind 'cuda'"):
        Target("cuda")


@pytest.mark.parametrize(("text", "bad"), [
    ("cuda", r"unknown target kind 'cuda'"),
    ("llvm -mcpux=a", r"unknown option '-mcpux'"),
    ("llvm -mattr=avx2", r"-mattr feature 'avx2' must start with \+ or -"),
    ("llvm -mcpu", r"option '-mcpu' needs a value"),
    ("opencl -device=-1", r"-device must be a device index \(0, 1, ...\) or a word of the device's name, got '-1'"),
    ("opencl -platform=+x", r"-platform must be a device index .* or a word of the platform's name"),
    ("", r"empty target string"),
])
def test_bad_target_strings(text: str, bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        Target.parse(text)


def test_build_for_another_cpu() -> None:
    f = map_func("sky", ["float32"], [("float32", lambda x: x * x)], 64, vector=16)
    m = build_func(f, "llvm -mcpu=x86-64 -mattr=+avx2,+fma")
    assert "zmm" not in m.get_source("asm")
    x, y = rng.random(64, dtype=np.float32), np.zeros(64, np.float32)
    m(x, y)
    np.testing.assert_allclose(y, x * x)


def test_list_devices_host_and_no_opencl(monkeypatch: pytest.MonkeyPatch) -> None:
    devs = list_devices()
    cpu = devs[0]
    assert cpu.kind == "cpu" and cpu.cores >= 1 and {"avx2", "avx512f", "fma"} <= set(cpu.features)
    real_import = builtins.__import__

    def no_pyopencl(name, *args, **kw):
        if name == "pyopencl":
            raise ImportError("no pyopencl")
        return real_import(name, *args, **kw)

    monkeypatch.delitem(sys.modules, "pyopencl", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_pyopencl)
    assert [d.kind for d in list_devices()] == ["cpu"]


def test_scalar_param_dtypes() -> None:
    n = 6
    A = buf("A", (n,), "float16")
    i = var("i")
    h, flag = Var("h", "float16"), Var("flag", "bool")
    body = loop(i, n, Store(A, (i,), load(A, i) * h))
    from tex.ir.nodes import IfThenElse
    m = build_func(PrimFunc("half_scale", (A, h, flag), IfThenElse(flag, body)))
    a = np.ones(n, np.float16)
    m(a, 1.5, True)
    m(a, 1.5, False)
    np.testing.assert_array_equal(a, np.full(n, 1.5, np.float16))


_INHERITED: dict[str, object] = {}  # what a forked child finds in memory (Modules do not pickle)


def _child_runs(n: int) -> float:
    import warnings

    m = _INHERITED["module"]
    x, y = np.ones(n, np.float32), np.zeros(n, np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m(x, y)
    assert any("forked after libgomp started" in str(w.message) for w in caught)
    return float(y.sum())


def test_parallel_kernel_in_a_forked_child_runs_serially_instead_of_hanging() -> None:
    import multiprocessing as mp

    n = 1 << 12
    m = build_func(map_func("par_fork", ["float32"], [("float32", lambda a: a * c(2.0, "float32"))], n, vector=16,
                            parallel=True))
    x, y = np.ones(n, np.float32), np.zeros(n, np.float32)
    m(x, y)  # the parent's libgomp pool is running now
    _INHERITED["module"] = m
    with mp.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_child_runs, (n,)).get(timeout=60) == 2 * n


def test_num_threads_and_missing_libgomp(monkeypatch: pytest.MonkeyPatch) -> None:
    from tex.targets.llvm import gomp

    f = map_func("par_cfg", ["float32"], [("float32", lambda a: a + c(1.0, "float32"))], 100, parallel=True)
    monkeypatch.setenv("TEX_NUM_THREADS", "1")
    assert "@GOMP_parallel(ptr nonnull @par_cfg.par0, ptr nonnull %par_cfg.par0.closure, i32 1, i32 0)" in \
        build_func(f).get_source("ll").replace("\n", " ")
    monkeypatch.setattr(gomp, "available", lambda: False)
    m = build_func(f)
    assert "GOMP_parallel" not in m.get_source("ll")
    x, y = np.ones(100, np.float32), np.zeros(100, np.float32)
    m(x, y)
    np.testing.assert_array_equal(y, 2)
