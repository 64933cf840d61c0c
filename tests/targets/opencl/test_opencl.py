"""The OpenCL target on the CI device (PoCL): GPU-style schedules against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex.targets import Target
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


def bind(s: tex.Schedule, t: tex.Tensor, axis: object, tag: str) -> None:
    s[t].bind(axis, tex.thread_axis(tag))


def elementwise(n: int, factor: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
    A = tex.placeholder((n,), name="A")
    B = tex.placeholder((n,), name="B")
    C = tex.compute((n,), lambda i: tex.exp(A[i]) * B[i] + tex.sigmoid(B[i]) - tex.abs(A[i] - 0.5), name="C")
    s = tex.create_schedule(C)
    bo, bi = s[C].split(C.op.axis[0], factor)
    bind(s, C, bo, "blockIdx.x")
    bind(s, C, bi, "threadIdx.x")
    return s, [A, B, C]


@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 300), factor=st.sampled_from([1, 7, 32, 64]))
def test_elementwise_bound(n: int, factor: int) -> None:
    s, args = elementwise(n, factor)
    f = tex.build(s, args, target="opencl")
    a, b = rand(n), rand(n)
    c = np.zeros(n, "float32")
    f(a, b, c)
    sig = 1 / (1 + np.exp(-b))
    np.testing.assert_allclose(c, np.exp(a) * b + sig - np.abs(a - 0.5), rtol=1e-5, atol=1e-6)


def test_unbound_kernel_is_correct_and_source_reads() -> None:
    A = tex.placeholder((5, 7), name="A")
    C = tex.compute((5, 7), lambda i, j: A[i, j] * 2 + i - j // 2 + (i * 7 + j) % 3, name="C")
    f = tex.build(tex.create_schedule(C), [A, C], target="opencl", name="scale")
    a = rand(5, 7)
    c = np.zeros((5, 7), "float32")
    f(a, c)
    i, j = np.indices((5, 7))
    # float32 on the device against float64 in numpy: values near 0 need an absolute tolerance
    np.testing.assert_allclose(c, a * 2 + i - j // 2 + (i * 7 + j) % 3, rtol=1e-6, atol=1e-6)
    src = f.get_source("cl")
    assert "__kernel" in src and "void scale(" in src and "const float* restrict A" in src
    assert f.launch.global_size == (1, 1, 1)


def matmul_shared(M: int, N: int, K: int, tile: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
    """Block tile in __local memory (cooperative fill by the work-group), one output per work-item."""
    A = tex.placeholder((M, K), name="A")
    B = tex.placeholder((K, N), name="B")
    k = tex.reduce_axis((0, K), name="k")
    C = tex.compute((M, N), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    AS = s.cache_read(A, "shared", [C])
    BS = s.cache_read(B, "shared", [C])
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    bi, bj, ti, tj = s[C].tile(i, j, tile, tile)
    bind(s, C, bi, "blockIdx.y")
    bind(s, C, bj, "blockIdx.x")
    bind(s, C, ti, "threadIdx.y")
    bind(s, C, tj, "threadIdx.x")
    s[CL].compute_at(s[C], tj)
    for X in (AS, BS):
        s[X].compute_at(s[C], bj)
        fused = s[X].fuse(*s[X].op.axis)
        _, inner = s[X].split(fused, tile * tile)
        fy, fx = s[X].split(inner, tile)
        bind(s, X, fy, "threadIdx.y")
        bind(s, X, fx, "threadIdx.x")
    return s, [A, B, C]


@pytest.mark.parametrize("shape", [(64, 64, 64), (50, 37, 29), (1, 16, 5)])
def test_matmul_shared_tiling(shape: tuple[int, int, int]) -> None:
    M, N, K = shape
    s, args = matmul_shared(M, N, K, 8)
    f = tex.build(s, args, target="opencl")
    src = f.get_source("cl")
    assert "__local float A_shared" in src and "barrier(CLK_LOCAL_MEM_FENCE)" in src
    a, b = rand(M, K), rand(K, N)
    c = np.zeros((M, N), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)
    t = f.time_evaluator(number=2, repeat=2)(a, b, c)
    assert len(t.results) == 2 and all(r > 0 for r in t.results)


def test_matmul_register_tile() -> None:
    """Each work-item computes a 4x4 block in private memory (cache_write 'local' + compute_at)."""
    M, N, K = 48, 40, 33
    A = tex.placeholder((M, K), name="A")
    B = tex.placeholder((K, N), name="B")
    k = tex.reduce_axis((0, K), name="k")
    C = tex.compute((M, N), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, 4, 4)
    bo, to = s[C].split(io, 4)
    s[C].reorder(bo, jo, to, ii, ji)
    bind(s, C, bo, "blockIdx.x")
    bind(s, C, to, "threadIdx.x")
    s[CL].compute_at(s[C], to)
    s[CL].unroll(s[CL].op.axis[1])
    s[C].vectorize(ji)
    f = tex.build(s, [A, B, C], target="opencl")
    a, b = rand(M, K), rand(K, N)
    c = np.zeros((M, N), "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)


def test_row_reduction() -> None:
    n, m = 37, 100
    A = tex.placeholder((n, m), name="A")
    k = tex.reduce_axis((0, m), name="k")
    R = tex.compute((n,), lambda i: tex.max(A[i, k], axis=k), name="R")
    S = tex.compute((n,), lambda i: R[i] * 2, name="S")
    s = tex.create_schedule(S)
    bo, bi = s[S].split(S.op.axis[0], 16)
    bind(s, S, bo, "blockIdx.x")
    bind(s, S, bi, "threadIdx.x")
    s[R].compute_at(s[S], bi)
    f = tex.build(s, [A, S], target="opencl")
    a = RNG.standard_normal((n, m)).astype("float32")
    out = np.zeros(n, "float32")
    f(a, out)
    np.testing.assert_allclose(out, a.max(axis=1) * 2, rtol=1e-6)


def test_conv2d_nchw_like() -> None:
    N, C, H, W, F, R = 1, 3, 10, 9, 4, 3
    X = tex.placeholder((N, C, H + R - 1, W + R - 1), name="X")
    Wt = tex.placeholder((F, C, R, R), name="Wt")
    rc = tex.reduce_axis((0, C), name="rc")
    ry = tex.reduce_axis((0, R), name="ry")
    rx = tex.reduce_axis((0, R), name="rx")
    Y = tex.compute((N, F, H, W), lambda n, f, y, x: tex.sum(X[n, rc, y + ry, x + rx] * Wt[f, rc, ry, rx],
                                                             axis=[rc, ry, rx]), name="Y")
    s = tex.create_schedule(Y)
    YL = s.cache_write(Y, "local")
    n, f, y, x = s[Y].op.axis
    fy = s[Y].fuse(f, y)
    bind(s, Y, fy, "blockIdx.x")
    xo, xi = s[Y].split(x, 4)
    bind(s, Y, xi, "threadIdx.x")
    s[YL].compute_at(s[Y], xi)
    fn = tex.build(s, [X, Wt, Y], target="opencl")
    xs, ws = rand(N, C, H + R - 1, W + R - 1), rand(F, C, R, R)
    out = np.zeros((N, F, H, W), "float32")
    fn(xs, ws, out)
    ref = np.zeros_like(out)
    for dy in range(R):
        for dx in range(R):
            ref += np.einsum("nchw,fc->nfhw", xs[:, :, dy:dy + H, dx:dx + W], ws[:, :, dy, dx])
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_argument_checks() -> None:
    s, args = elementwise(64, 16)
    f = tex.build(s, args, target="opencl")
    a = rand(64)
    with pytest.raises(TypeError, match="expected 3 arguments"):
        f(a, a)
    with pytest.raises(ValueError, match=r"argument 'B' \(#2\) must have shape \(64,\)"):
        f(a, rand(63), np.zeros(64, "float32"))
    with pytest.raises(TypeError, match=r"argument 'C'.*dtype float32, got float64"):
        f(a, a.copy(), np.zeros(64))


def test_work_group_too_large() -> None:
    s, args = elementwise(1 << 16, 1 << 15)
    with pytest.raises(tex.BuildError, match="max_work_group_size"):
        tex.build(s, args, target="opencl")


def test_block_extents_disagree() -> None:
    A = tex.placeholder((16,), name="A")
    B = tex.compute((16,), lambda i: A[i] + 1, name="B")
    C = tex.compute((8,), lambda i: B[i] * 2, name="C")
    s = tex.create_schedule([B, C])
    bind(s, B, s[B].op.axis[0], "blockIdx.x")
    bind(s, C, s[C].op.axis[0], "blockIdx.x")
    with pytest.raises(tex.BuildError, match=r"blockIdx\.x is bound to loops of different extents"):
        tex.build(s, [A, B, C], target="opencl")


def test_bad_device_index() -> None:
    s, args = elementwise(8, 4)
    with pytest.raises(tex.BuildError, match="OpenCL devices"):
        tex.build(s, args, target="opencl -device=99")


def test_local_memory_limit() -> None:
    from tex.targets.opencl.runtime import device_context

    limit = device_context(None).local_mem_size
    n = limit // 4 // 8 + 8  # an 8 x n float tile of A is larger than local memory
    s, args = matmul_shared(8, 8, n, 8)
    with pytest.raises(tex.BuildError, match="local_mem_size"):
        tex.build(s, args, target="opencl")


def test_float16_built_or_refused_clearly() -> None:
    from tex.targets.opencl.runtime import device_context

    n = 100
    A = tex.placeholder((n,), dtype="float16", name="A")
    C = tex.compute((n,), lambda i: A[i] * tex.const(2, "float16") + tex.const(1, "float16"), name="C")
    s = tex.create_schedule(C)
    bo, bi = s[C].split(C.op.axis[0], 32)
    bind(s, C, bo, "blockIdx.x")
    bind(s, C, bi, "threadIdx.x")
    if not device_context(None).fp16:
        with pytest.raises(tex.BuildError, match="cl_khr_fp16"):
            tex.build(s, [A, C], target="opencl")
        return
    f = tex.build(s, [A, C], target="opencl")
    a = rand(n).astype("float16")
    c = np.zeros(n, "float16")
    f(a, c)
    np.testing.assert_allclose(c, a * 2 + 1, rtol=1e-3)


def test_thread_tag_bound_twice() -> None:
    A = tex.placeholder((8, 8), name="A")
    B = tex.compute((8, 8), lambda i, j: A[i, j] + 1, name="B")
    C = tex.compute((8, 8), lambda i, j: B[i, j] * 2, name="C")
    s = tex.create_schedule(C)
    i, j = s[C].op.axis
    bind(s, C, i, "threadIdx.x")
    with pytest.raises(tex.ScheduleError, match=r"threadIdx\.x' is already bound"):
        bind(s, C, j, "threadIdx.x")
    s[B].compute_at(s[C], i)
    bind(s, B, s[B].op.axis[1], "threadIdx.x")
    with pytest.raises(tex.BuildError, match=r"threadIdx\.x is bound twice on one loop path"):
        tex.build(s, [A, C], target="opencl")


def test_pick_device_by_index_and_by_name() -> None:
    """-device=N, -device=NAME and -platform=NAME (a case-insensitive word of the name) reach the same device,
    sharing its context; the module's device is the one `tex.targets.list_devices()` lists."""
    dev = opencl_devices()[0]
    word = dev.name.split("-")[0].upper()  # e.g. PTHREAD of pthread-skylake-avx512-...
    s, args = elementwise(40, 8)
    a, b = rand(40), rand(40)
    want = np.exp(a) * b + 1 / (1 + np.exp(-b)) - np.abs(a - 0.5)
    ctxs = []
    for target in (dev.target, f"opencl -device={word}", f"opencl -platform={dev.platform.split()[0].lower()}",
                   f"opencl -platform={dev.platform.split()[0]} -device={dev.index}"):
        f = tex.build(s, args, target=target)
        c = np.full(40, np.nan, "float32")
        f(a, b, c)
        np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-6, err_msg=target)
        assert str(Target(target)) == target
        ctxs.append(f.ctx)
    assert all(c is ctxs[0] for c in ctxs) and ctxs[0].name == dev.name


@pytest.mark.parametrize(("target", "match"), [
    ("opencl -device=no-such-gpu", r"-device=no-such-gpu: no OpenCL device's name matches \(devices: 0: "),
    ("opencl -platform=no-such-vendor", r"-platform=no-such-vendor: no OpenCL device's name matches"),
    ("opencl -platform=no-such-vendor -device=0", r"device 0 is on platform"),
])
def test_device_name_matches_nothing(target: str, match: str) -> None:
    s, args = elementwise(8, 4)
    with pytest.raises(tex.BuildError, match=match):
        tex.build(s, args, target=target)


def test_fingerprint_names_the_device_not_its_index() -> None:
    """A tuning log from device 0 of another machine (another GPU) must not apply here: the fingerprint holds
    the platform, device name and driver the target resolves to."""
    dev = opencl_devices()[0]
    fp = Target(dev.target).fingerprint()
    assert fp["kind"] == "opencl" and fp["platform"] == dev.platform and fp["device"] == dev.name
    assert fp["driver"] and fp == Target(f"opencl -device={dev.name.split('-')[0]}").fingerprint()


def test_programs_and_buffers_are_cached_and_timing_uses_profiling_events() -> None:
    """Building the same kernel again reuses the compiled program; a module reuses its device buffers from one
    call to the next; time_evaluator reads the kernel's time from profiling events on a profiling queue."""
    import pyopencl as cl

    s, args = elementwise(256, 32)
    f = tex.build(s, args, target="opencl")
    n_programs = len(f.ctx.programs)
    g = tex.build(s, args, target="opencl")
    assert g._program is f._program and len(f.ctx.programs) == n_programs
    a, b, c = rand(256), rand(256), np.zeros(256, "float32")
    f(a, b, c)
    first = dict(f._device_buffers)
    f(a * 2, b, c)
    assert f._device_buffers == first and all(f._device_buffers[k] is v for k, v in first.items())
    np.testing.assert_allclose(c, np.exp(2 * a) * b + 1 / (1 + np.exp(-b)) - np.abs(2 * a - 0.5), rtol=1e-5)
    assert f.ctx.queue.properties & cl.command_queue_properties.PROFILING_ENABLE
    t = f.time_evaluator(number=3, repeat=2)(a, b, c)
    assert len(t.results) == 2 and all(0 < x < 1 for x in t.results)
