"""Matrix multiplication for x86 CPUs: the packed compute and its register-blocked schedule.

`C[i, j] = sum_k A[i, k] * B[k, j]`. B is repacked into column panels `Bp[j // bn, k, j % bn]` so the
inner loop reads `bn` contiguous floats of one panel per k (one or two zmm loads), broadcasts one
element of A per row of the register tile and issues `tile_m * bn / lanes` FMAs into accumulators
that live in registers (the "local" cache stage). This is the blocking of TVM's x86 dense schedule
and of BLIS micro-kernels, written as a tex schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.schedule import Schedule


@dataclass(frozen=True)
class MatmulBlocking:
    """The knobs of the hand schedule: a `tile_m x tile_n` register tile, k unrolled by `unroll_k`.

    The defaults suit AVX-512 (16 float lanes): an 8 x 32 tile keeps 16 zmm accumulators, two zmm of B
    and the broadcasts of A in the 32 vector registers.
    """

    tile_m: int = 8
    tile_n: int = 32
    unroll_k: int = 4
    parallel: bool = True
    fuse_parallel: bool = False  # parallelize over (row block, column block) pairs, not row blocks only
    unroll_rows: bool = True  # unroll the tile's rows (one accumulator chain per row)


def matmul_packed(
    M: int, N: int, K: int, bn: int = 32, dtype: str = "float32"
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A, B, the packed panels Bp of B (`ceil(N / bn)` x K x bn) and C = A @ B."""
    A = dsl.placeholder((M, K), dtype=dtype, name="A")
    B = dsl.placeholder((K, N), dtype=dtype, name="B")
    panels = -(-N // bn)
    # Columns past N (when bn does not divide N) are zero-padded; C never reads them.
    Bp = dsl.compute((panels, K, bn),
                     lambda jo, k, ji: dsl.if_then_else(jo * bn + ji < N, B[k, jo * bn + ji], dsl.const(0, dtype)),
                     name="Bp", tag="pack")
    k = dsl.reduce_axis((0, K), name="k")
    C = dsl.compute((M, N), lambda i, j: dsl.sum(A[i, k] * Bp[j // bn, k, j % bn], axis=k),
                    name="C", tag="matmul")
    return A, B, Bp, C


def matmul_naive(M: int, N: int, K: int, dtype: str = "float32") -> tuple[Tensor, Tensor, Tensor]:
    """A, B and C = A @ B, the textbook compute."""
    A = dsl.placeholder((M, K), dtype=dtype, name="A")
    B = dsl.placeholder((K, N), dtype=dtype, name="B")
    k = dsl.reduce_axis((0, K), name="k")
    C = dsl.compute((M, N), lambda i, j: dsl.sum(A[i, k] * B[k, j], axis=k), name="C", tag="matmul")
    return A, B, C


def schedule_matmul_packed(s: Schedule, Bp: Tensor, C: Tensor, blocking: MatmulBlocking = MatmulBlocking()) -> None:
    """Register-block C (its tile_n must equal Bp's panel width), vectorize and parallelize, pack Bp in parallel."""
    b = blocking
    bn = Bp.shape[2]
    if b.tile_n != bn:
        raise ValueError(f"schedule_matmul_packed: tile_n ({b.tile_n}) must equal the panel width of Bp ({bn})")
    CC = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, _, ji = s[C].tile(i, j, b.tile_m, b.tile_n)
    outer = s[C].fuse(io, jo) if b.fuse_parallel else io
    s[CC].compute_at(s[C], outer if b.fuse_parallel else jo)
    ci, cj = s[CC].op.axis
    (ck,) = s[CC].op.reduce_axis
    ko, ki = s[CC].split(ck, b.unroll_k)
    s[CC].reorder(ko, ki, ci, cj)
    s[CC].vectorize(cj)
    if b.unroll_rows:
        s[CC].unroll(ci)
    s[CC].unroll(ki)
    s[C].vectorize(ji)
    pj, _, pv = s[Bp].op.axis
    s[Bp].vectorize(pv)
    if b.parallel:
        s[C].parallel(outer)
        s[Bp].parallel(pj)
