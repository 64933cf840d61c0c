"""Batched matrix multiplication for x86 CPUs: `C[b, i, j] = sum_k A[b, i, k] * B[b, k, j]`.

Both operands are activations (not constants), so nothing is repacked: each `tile_m x tile_n` register
tile of C accumulates in a local buffer while k walks rows of B (`tile_n` contiguous floats per k).
(batch, row block) pairs run in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.schedule import Schedule


@dataclass(frozen=True)
class BatchMatmulBlocking:
    tile_m: int = 8
    tile_n: int = 32
    unroll_k: int = 4
    parallel: bool = True


def batch_matmul(batch: int, M: int, N: int, K: int, dtype: str = "float32",
                 transpose_b: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """A (batch, M, K), B (batch, K, N) or (batch, N, K) with transpose_b, and C (batch, M, N)."""
    A = dsl.placeholder((batch, M, K), dtype=dtype, name="A")
    B = dsl.placeholder((batch, N, K) if transpose_b else (batch, K, N), dtype=dtype, name="B")
    k = dsl.reduce_axis((0, K), name="k")
    if transpose_b:
        C = dsl.compute((batch, M, N), lambda b, i, j: dsl.sum(A[b, i, k] * B[b, j, k], axis=k), name="C",
                        tag="batch_matmul")
    else:
        C = dsl.compute((batch, M, N), lambda b, i, j: dsl.sum(A[b, i, k] * B[b, k, j], axis=k), name="C",
                        tag="batch_matmul")
    return A, B, C


def schedule_batch_matmul(s: Schedule, C: Tensor, blocking: BatchMatmulBlocking = BatchMatmulBlocking()) -> None:
    """Register tiles accumulated locally over all of k; (batch, row block) fused and parallel."""
    bl = blocking
    CC = s.cache_write(C, "local")
    b, i, j = s[C].op.axis
    io, jo, _, ji = s[C].tile(i, j, bl.tile_m, bl.tile_n)
    outer = s[C].fuse(b, io)
    s[C].vectorize(ji)
    s[CC].compute_at(s[C], jo)
    _, ci, cj = s[CC].op.axis
    (ck,) = s[CC].op.reduce_axis
    ko, ki = s[CC].split(ck, bl.unroll_k)
    s[CC].reorder(ko, ki, ci, cj)
    s[CC].vectorize(cj)
    s[CC].unroll(ci)
    s[CC].unroll(ki)
    if bl.parallel:
        s[C].parallel(outer)
