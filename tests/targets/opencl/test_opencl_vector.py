"""OpenCL vector types: vectorized loops of 2, 3, 4, 8 or 16 lanes print as floatN code (vloadN/vstoreN,
broadcasts, floatN private accumulators); any other vector loop falls back to scalar code. numpy is the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import tex
from tex.ops.opencl.matmul import OpenCLMatmulBlocking, matmul, schedule_matmul_opencl
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


def elementwise(n: int, lanes: int) -> tuple[object, str]:
    A = tex.placeholder((n,), name="A")
    B = tex.placeholder((n,), name="B")
    C = tex.compute((n,), lambda i: tex.exp(A[i]) * 2.0 + B[i] * A[i] - tex.abs(A[i] - 0.5), name="C")
    s = tex.create_schedule(C)
    bx, tx = s[C].split(C.op.axis[0], factor=8 * lanes)
    tx, v = s[C].split(tx, factor=lanes)
    s[C].bind(bx, tex.thread_axis("blockIdx.x"))
    s[C].bind(tx, tex.thread_axis("threadIdx.x"))
    s[C].vectorize(v)
    f = tex.build(s, [A, B, C], target="opencl")
    return f, f.get_source("cl")


@pytest.mark.parametrize("lanes", [2, 3, 4, 8, 16])
def test_elementwise_vector(lanes: int) -> None:
    n = 48 * lanes
    f, src = elementwise(n, lanes)
    assert f"vload{lanes}" in src and f"vstore{lanes}" in src and f"(float{lanes})(2.0f)" in src
    a, b = rand(n), rand(n)
    c = np.empty_like(a)
    f(a, b, c)
    np.testing.assert_allclose(c, np.exp(a) * 2 + b * a - np.abs(a - 0.5), rtol=1e-5)


@pytest.mark.parametrize("lanes", [5, 32])
def test_elementwise_scalar_fallback(lanes: int) -> None:
    n = 8 * lanes * 3
    f, src = elementwise(n, lanes)
    assert "vload" not in src and "vstore" not in src
    a, b = rand(n), rand(n)
    c = np.empty_like(a)
    f(a, b, c)
    np.testing.assert_allclose(c, np.exp(a) * 2 + b * a - np.abs(a - 0.5), rtol=1e-5)


def test_tail_falls_back_to_scalar() -> None:
    n = 37  # a split by 4 that does not divide: the vector body plus a guarded scalar tail
    A = tex.placeholder((n,), name="A")
    C = tex.compute((n,), lambda i: A[i] * 3.0 + 1.0, name="C")
    s = tex.create_schedule(C)
    o, v = s[C].split(C.op.axis[0], factor=4)
    s[C].bind(o, tex.thread_axis("threadIdx.x"))
    s[C].vectorize(v)
    f = tex.build(s, [A, C], target="opencl")
    a = rand(n)
    c = np.empty_like(a)
    f(a, c)
    np.testing.assert_allclose(c, a * 3 + 1, rtol=1e-6)


@pytest.mark.parametrize("shape, blocking", [
    ((64, 64, 32), OpenCLMatmulBlocking(4, 16, 4, 4, 4, 4)),
    ((128, 128, 64), OpenCLMatmulBlocking(8, 16, 4, 2, 4, 16)),
    ((70, 50, 33), OpenCLMatmulBlocking(2, 8, 4, 4, 2, 8)),   # tails: guarded, scalar where vectors can't go
])
def test_matmul_vector_accumulators(shape: tuple[int, int, int], blocking: OpenCLMatmulBlocking) -> None:
    M, N, K = shape
    A, B, C = matmul(M, N, K)
    s = tex.create_schedule(C)
    schedule_matmul_opencl(s, C, blocking)
    f = tex.build(s, [A, B, C], target="opencl")
    src = f.get_source("cl")
    v = blocking.vec
    assert f"vload{v}" in src and f"vstore{v}" in src
    if M % (blocking.ty * blocking.gy) == 0 and N % (blocking.tx * blocking.gx) == 0:
        assert f"float{v} C_local[" in src  # accumulators as a private floatN array
    a, b = rand(M, K), rand(K, N)
    c = np.empty((M, N), dtype=np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4)
