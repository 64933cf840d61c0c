"""Batched matrix multiplication for x86 CPUs: `C[b, i, j] = sum_k A[b, i, k] * B[b, k, j]`.

Both operands are activations (not constants), so nothing is repacked: each `tile_m x tile_n` register
tile of C accumulates in a local buffer while k walks rows of B (`tile_n` contiguous floats per k).
(batch, row block) pairs run in parallel. The accumulation covers M rounded up to whole tiles (A's row
index clamped, extra rows never stored), so the k loop carries no per-row guard.
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.x86.matmul import padded_rows, schedule_gemm_tile
from tex.schedule import Schedule


@dataclass(frozen=True)
class BatchMatmulBlocking:
    """Register tile, k unrolling, parallel; `vector` as `MatmulBlocking.vector` (used when tile_n divides N:
    a column tail guard per vector would stay in the k loop). The defaults are the AVX-512 blocking."""

    tile_m: int = 8
    tile_n: int = 32
    unroll_k: int = 4
    parallel: bool = True
    vector: int = 0


def batch_matmul(batch: int, M: int, N: int, K: int, dtype: str = "float32",
                 transpose_b: bool = False, tile_m: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """A (batch, M, K), B (batch, K, N) or (batch, N, K) with transpose_b, and C (batch, M, N).

    C copies the accumulation (its input, tag "batch_matmul") over M rounded up to `tile_m` rows: pass the
    schedule's tile_m."""
    if tile_m < 1:
        raise ValueError(f"batch_matmul: tile_m must be >= 1, got {tile_m}")
    A = dsl.placeholder((batch, M, K), dtype=dtype, name="A")
    B = dsl.placeholder((batch, N, K) if transpose_b else (batch, K, N), dtype=dtype, name="B")
    k = dsl.reduce_axis((0, K), name="k")
    mp = padded_rows(M, tile_m)

    def row(i: object) -> object:
        return i if mp == M else dsl.min(i, M - 1)  # padded rows re-read row M-1; they are never stored

    if transpose_b:
        acc = dsl.compute((batch, mp, N), lambda b, i, j: dsl.sum(A[b, row(i), k] * B[b, j, k], axis=k),
                          name="acc", tag="batch_matmul")
    else:
        acc = dsl.compute((batch, mp, N), lambda b, i, j: dsl.sum(A[b, row(i), k] * B[b, k, j], axis=k),
                          name="acc", tag="batch_matmul")
    C = dsl.compute((batch, M, N), lambda b, i, j: acc[b, i, j], name="C", tag="batch_matmul_out")
    return A, B, C


def schedule_batch_matmul(s: Schedule, C: Tensor, blocking: BatchMatmulBlocking = BatchMatmulBlocking()) -> None:
    """Register tiles accumulated locally over all of k; (batch, row block) fused and parallel."""
    bl = blocking
    (acc,) = C.op.input_tensors()
    b, i, j = s[C].op.axis
    io, jo, _, ji = s[C].tile(i, j, bl.tile_m, bl.tile_n)
    outer = s[C].fuse(b, io)
    s[C].vectorize(ji)
    s[acc].set_scope("local")
    s[acc].compute_at(s[C], jo)
    whole = int(C.shape[2]) % bl.tile_n == 0  # else each vector's column guard would stay in the k loop
    schedule_gemm_tile(s, acc, bl.tile_n, bl.unroll_k, bl.vector if whole else 0)
    if bl.parallel:
        s[C].parallel(outer)
