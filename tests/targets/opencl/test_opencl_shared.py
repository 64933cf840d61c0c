"""Shared (__local) tiles filled cooperatively from inside the thread loops, the GPU way, against numpy."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex.ops.opencl.matmul import OpenCLMatmulBlocking, cooperative_fill, matmul, schedule_matmul_opencl
from tex.targets.devices import opencl_devices

needs_device = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
RNG = np.random.default_rng(4)


def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


def bind(s: tex.Schedule, t: tex.Tensor, axis: object, tag: str) -> None:
    s[t].bind(axis, tex.thread_axis(tag))


def fill_by_threads(s: tex.Schedule, X: tex.Tensor, gy: int, gx: int, fx: int | None = None) -> None:
    """The copy loops of X as rounds of gy x gx work-items (threadIdx.x extent `fx`, gx unless given)."""
    fused = s[X].fuse(*s[X].op.axis)
    _, inner = s[X].split(fused, gy * (fx or gx))
    y, x = s[X].split(inner, fx or gx)
    bind(s, X, y, "threadIdx.y")
    bind(s, X, x, "threadIdx.x")


def matmul_shared_ko(M: int, N: int, K: int, ty: int = 2, tx: int = 2, gy: int = 4, gx: int = 4, tk: int = 4,
                     scope: str = "shared", fx: int | None = None) -> tuple[tex.Schedule, list[tex.Tensor]]:
    """A ty x tx register tile per work-item, gy x gx work-items per group; tiles of A and B in `scope`,
    computed at the register tile's k.outer loop (inside threadIdx.y/x), filled by the group."""
    A = tex.placeholder((M, K), name="A")
    B = tex.placeholder((K, N), name="B")
    k = tex.reduce_axis((0, K), name="k")
    C = tex.compute((M, N), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    AS = s.cache_read(A, scope, [C])
    BS = s.cache_read(B, scope, [C])
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, ty, tx)
    bi, ti = s[C].split(io, gy)
    bj, tj = s[C].split(jo, gx)
    s[C].reorder(bi, bj, ti, tj, ii, ji)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        bind(s, C, ax, tag)
    s[CL].compute_at(s[C], tj)
    ci, cj = s[CL].op.axis
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], tk)
    s[CL].reorder(ko, ki, ci, cj)
    for X in (AS, BS):
        s[X].compute_at(s[CL], ko)
        if scope == "shared":
            fill_by_threads(s, X, gy, gx, fx)
    return s, [A, B, C]


def run_matmul(s: tex.Schedule, args: list[tex.Tensor], M: int, N: int, K: int) -> tex.Tensor:
    f = tex.build(s, args, target="opencl")
    a, b = rand(M, K), rand(K, N)
    c = np.full((M, N), np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)
    return f


# ---------------------------------------------------------------------------------------------- bound inference


def test_lowered_region_is_relaxed_over_the_thread_loops() -> None:
    s, args = matmul_shared_ko(64, 64, 64)  # register tile 2x2, group 4x4: the group's tile of A is 8 x 4
    text = str(tex.lower(s, args))
    assert 'A.shared = allocate(float32[8, 4], "shared")' in text
    assert 'B.shared = allocate(float32[4, 8], "shared")' in text
    fill = next(line for line in text.splitlines() if line.strip().startswith("A.shared["))
    assert "i.outer.inner" not in fill and "j.outer.inner" not in fill  # no compute thread index: one tile a group
    read = next(line for line in text.splitlines() if "C.local[i.c, j.c] = C.local" in line)
    assert "A.shared[i.outer.inner * 2 + i.c, k.inner]" in read  # each work-item reads its rows of the tile


def test_local_scope_is_not_relaxed() -> None:
    s, args = matmul_shared_ko(64, 64, 64, scope="local")
    text = str(tex.lower(s, args))
    assert 'A.local = allocate(float32[2, 4], "local")' in text  # one work-item's rows only
    assert 'B.local = allocate(float32[4, 2], "local")' in text
    assert "barrier" not in text


def test_block_level_shared_stage_is_unchanged() -> None:
    """Attached at a blockIdx loop (outside the thread loops) nothing is relaxed and no Barrier node is added."""
    M = N = K = 16
    A = tex.placeholder((M, K), name="A")
    C = tex.compute((M, N), lambda i, j: A[i, j] * 2, name="C")
    s = tex.create_schedule(C)
    AS = s.cache_read(A, "shared", [C])
    i, j = C.op.axis
    bi, ti = s[C].split(i, 4)
    bind(s, C, bi, "blockIdx.x")
    bind(s, C, ti, "threadIdx.x")
    s[AS].compute_at(s[C], bi)
    text = str(tex.lower(s, [A, C]))
    assert 'A.shared = allocate(float32[4, 16], "shared")' in text and "barrier" not in text


# ---------------------------------------------------------------------------------------------- on the device


@needs_device
@pytest.mark.parametrize("shape", [(64, 64, 64), (50, 37, 29), (1, 9, 5), (33, 8, 70)])
def test_matmul_shared_at_ko(shape: tuple[int, int, int]) -> None:
    M, N, K = shape
    run_matmul(*matmul_shared_ko(M, N, K), M, N, K)


@needs_device
def test_opencl_source_has_local_tiles_and_barriers_around_the_fill() -> None:
    s, args = matmul_shared_ko(50, 37, 29)
    src = run_matmul(s, args, 50, 37, 29).get_source("cl")
    lines = [ln.strip() for ln in src.splitlines()]
    first_block = next(n for n, ln in enumerate(lines) if "blockIdx" in ln)
    decl = [n for n, ln in enumerate(lines) if re.fullmatch(r"__local float [AB]_shared\[32\];", ln)]
    assert len(decl) == 2 and max(decl) < first_block  # hoisted to the kernel's top, one tile per group
    k_loop = next(n for n, ln in enumerate(lines) if ln.startswith("for (long k_outer"))
    barriers = [n for n, ln in enumerate(lines) if ln == "barrier(CLK_LOCAL_MEM_FENCE);"]
    fills = [n for n, ln in enumerate(lines) if re.match(r"[AB]_shared\[.*\] = ", ln)]
    reads = [n for n, ln in enumerate(lines) if ln.startswith("C_local[") and "_shared[" in ln]
    assert len(barriers) == 2 and len(fills) == 2 and reads
    assert k_loop < barriers[0] < min(fills) and max(fills) < barriers[1] < min(reads)
    assert src.count("get_local_id(0)") == 3  # the compute's threadIdx.x and each fill's: the same work-item


@needs_device
@settings(max_examples=8, deadline=None)
@given(M=st.integers(1, 40), N=st.integers(1, 40), K=st.integers(1, 40), ty=st.sampled_from([1, 2, 3]),
       tx=st.sampled_from([1, 2, 4]), gy=st.sampled_from([1, 2, 4]), gx=st.sampled_from([1, 3, 4, 8]),
       tk=st.sampled_from([1, 3, 4, 8]))
def test_matmul_shared_property(M: int, N: int, K: int, ty: int, tx: int, gy: int, gx: int, tk: int) -> None:
    run_matmul(*matmul_shared_ko(M, N, K, ty, tx, gy, gx, tk), M, N, K)


@needs_device
def test_barrier_under_a_thread_guard_is_refused() -> None:
    """A fill with a wider threadIdx.x than the compute makes the compute's thread loop a guard around the
    barriers: some work-items would skip them."""
    s, args = matmul_shared_ko(32, 32, 32, gx=4, fx=8)
    with pytest.raises(tex.BuildError, match="barrier sits under the thread-dependent condition"):
        tex.build(s, args, target="opencl")


@needs_device
@pytest.mark.parametrize("shape, tile", [((32, 32), (2, 2, 4, 4)), ((29, 45), (3, 2, 4, 8)), ((5, 3), (1, 1, 2, 2))])
def test_stencil_through_shared(shape: tuple[int, int], tile: tuple[int, int, int, int]) -> None:
    """A 3x3 weighted window: each group stages its output tile plus the halo in __local memory, computed at
    the threadIdx.x loop itself; the window's reduction reads the neighbours' pixels from there."""
    H, W = shape
    ty, tx, gy, gx = tile
    A = tex.placeholder((H + 2, W + 2), name="A")
    Wt = tex.placeholder((3, 3), name="Wt")
    di = tex.reduce_axis((0, 3), name="di")
    dj = tex.reduce_axis((0, 3), name="dj")
    O = tex.compute((H, W), lambda i, j: tex.sum(A[i + di, j + dj] * Wt[di, dj], axis=[di, dj]), name="O")
    s = tex.create_schedule(O)
    AS = s.cache_read(A, "shared", [O])
    OL = s.cache_write(O, "local")
    i, j = s[O].op.axis
    io, jo, ii, ji = s[O].tile(i, j, ty, tx)
    bi, ti = s[O].split(io, gy)
    bj, tj = s[O].split(jo, gx)
    s[O].reorder(bi, bj, ti, tj, ii, ji)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        bind(s, O, ax, tag)
    s[OL].compute_at(s[O], tj)
    s[AS].compute_at(s[O], tj)
    cooperative_fill(s, AS, gy, gx)
    text = str(tex.lower(s, [A, Wt, O]))
    assert f'A.shared = allocate(float32[{min(gy * ty + 2, H + 2)}, {min(gx * tx + 2, W + 2)}], "shared")' in text
    f = tex.build(s, [A, Wt, O], target="opencl")
    a, w = rand(H + 2, W + 2), rand(3, 3)
    o = np.full((H, W), np.nan, "float32")
    f(a, w, o)
    ref = sum(a[x:x + H, y:y + W] * w[x, y] for x in range(3) for y in range(3))
    np.testing.assert_allclose(o, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- the template


@needs_device
@pytest.mark.parametrize("shape, blocking", [
    ((64, 64, 64), OpenCLMatmulBlocking(4, 16, 4, 4, 4, 4, shared=True)),
    ((70, 50, 33), OpenCLMatmulBlocking(2, 8, 4, 4, 2, 8, shared=True, tile_k=8)),
    ((37, 45, 29), OpenCLMatmulBlocking(1, 4, 8, 2, 8, 1, shared=True, tile_k=3)),  # tile_k rounds up to 8
])
def test_template_blocking_shared(shape: tuple[int, int, int], blocking: OpenCLMatmulBlocking) -> None:
    M, N, K = shape
    A, B, C = matmul(M, N, K)
    s = tex.create_schedule(C)
    schedule_matmul_opencl(s, C, blocking)
    src = run_matmul(s, [A, B, C], M, N, K).get_source("cl")
    assert "__local float A_shared" in src and "__local float B_shared" in src
    assert src.count("barrier(CLK_LOCAL_MEM_FENCE);") == 2


@needs_device
def test_template_shared_knob_random_configs() -> None:
    from tex import tune

    task = tune.create_task("matmul_opencl", (37, 45, 29, "float32"), target="opencl")
    rng = np.random.default_rng(5)
    a, b = rand(37, 29), rand(29, 45)
    picked = 0
    for index in rng.permutation(len(task.config_space)):
        cfg = task.config_space.get(int(index))
        if cfg.value("shared") != 1:
            continue
        s, args = task.instantiate(cfg)
        f = tex.build(s, args, target="opencl")
        assert "__local" in f.get_source("cl"), str(cfg)
        c = np.full((37, 45), np.nan, np.float32)
        f(a, b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5, err_msg=str(cfg))
        picked += 1
        if picked == 4:
            break
    assert picked == 4


def test_template_default_is_not_shared() -> None:
    from tex.ops.opencl.matmul import matmul_opencl

    s, args = matmul_opencl(64, 64, 64, "float32")
    assert "shared" not in str(tex.lower(s, args))
