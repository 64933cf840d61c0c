"""Matrix multiplication for x86 CPUs: the packed compute and its register-blocked schedule.

`C[i, j] = sum_k A[i, k] * B[k, j]`. B is repacked into column panels `Bp[j // bn, k, j % bn]` so the
inner loop reads `bn` contiguous floats of one panel per k (one load per native vector), broadcasts one
element of A per row of the register tile and issues `tile_m * bn / lanes` FMAs into accumulators
that live in registers (the "local" stage `acc`). This is the blocking of TVM's x86 dense schedule
and of BLIS micro-kernels, written as a tex schedule.

`acc` is computed over rows padded to whole register tiles (A's row index clamped, the extra rows never
stored), so the k loop carries no row guard: a guard per row there stops LLVM from keeping the tile in
registers (it spills every accumulator on every k step).
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.x86.isa import register_tiles, vector_lanes
from tex.schedule import Schedule


@dataclass(frozen=True)
class MatmulBlocking:
    """The knobs of the hand schedule: a `tile_m x tile_n` register tile, k unrolled by `unroll_k`.

    These field defaults are the AVX-512 blocking (8 x 32: 16 zmm accumulators); `host_blocking()` gives
    the one sized to this host's register file. `vector` splits the tile's columns into native vectors
    of that many lanes (0: one vector of tile_n, left to LLVM to legalize; a 24-lane vector it does
    badly). `panel_outer` runs the column panels in parallel, outermost: each iteration packs its panel of
    B (K x tile_n floats, on the stack up to 64 KiB) and sweeps every row tile with it, so one parallel
    region does everything and no B-sized buffer is allocated per call; otherwise B is packed whole in a
    first parallel loop and the row tiles (or, with fuse_parallel, the tiles) run in parallel.
    """

    tile_m: int = 8
    tile_n: int = 32
    unroll_k: int = 4
    parallel: bool = True
    fuse_parallel: bool = False  # parallelize over (row block, column block) pairs, not row blocks only
    unroll_rows: bool = True  # unroll the tile's rows (one accumulator chain per row)
    vector: int = 0
    panel_outer: bool = False


def host_blocking() -> MatmulBlocking:
    """The default blocking for this host: its first register tile in native vectors (6 x 16 on AVX2,
    panels outermost); on AVX-512 the 8 x 32 tile with row tiles in parallel, as before."""
    tm, tn = register_tiles()[0]
    lanes = vector_lanes()
    return MatmulBlocking(tm, tn, 4, vector=lanes, panel_outer=lanes < 16)


def padded_rows(n: int, block: int) -> int:
    """n rounded up to whole blocks."""
    return -(-n // block) * block


def matmul_packed(
    M: int, N: int, K: int, bn: int = 32, dtype: str = "float32", tile_m: int = 1
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A, B, the packed panels Bp of B (`ceil(N / bn)` x K x bn) and C = A @ B.

    C copies the accumulation `acc` (its input, tag "matmul"), which covers M rounded up to `tile_m` rows
    and whole panels: pass the schedule's tile_m so that its register tiles need no row guard.
    """
    if tile_m < 1:
        raise ValueError(f"matmul_packed: tile_m must be >= 1, got {tile_m}")
    A = dsl.placeholder((M, K), dtype=dtype, name="A")
    B = dsl.placeholder((K, N), dtype=dtype, name="B")
    panels = -(-N // bn)
    # Columns past N (when bn does not divide N) are zero-padded; C never reads them.
    Bp = dsl.compute((panels, K, bn),
                     lambda jo, k, ji: dsl.if_then_else(jo * bn + ji < N, B[k, jo * bn + ji], dsl.const(0, dtype)),
                     name="Bp", tag="pack")
    mp = padded_rows(M, tile_m)

    def row(i: object) -> object:
        return i if mp == M else dsl.min(i, M - 1)  # padded rows re-read row M-1; they are never stored

    k = dsl.reduce_axis((0, K), name="k")
    acc = dsl.compute((mp, panels * bn), lambda i, j: dsl.sum(A[row(i), k] * Bp[j // bn, k, j % bn], axis=k),
                      name="acc", tag="matmul")
    C = dsl.compute((M, N), lambda i, j: acc[i, j], name="C", tag="matmul_out")
    return A, B, Bp, C


def matmul_naive(M: int, N: int, K: int, dtype: str = "float32") -> tuple[Tensor, Tensor, Tensor]:
    """A, B and C = A @ B, the textbook compute."""
    A = dsl.placeholder((M, K), dtype=dtype, name="A")
    B = dsl.placeholder((K, N), dtype=dtype, name="B")
    k = dsl.reduce_axis((0, K), name="k")
    C = dsl.compute((M, N), lambda i, j: dsl.sum(A[i, k] * B[k, j], axis=k), name="C", tag="matmul")
    return A, B, C


def schedule_gemm_tile(s: Schedule, acc: Tensor, width: int, unroll_k: int, vector: int,
                           unroll_rows: bool = True) -> None:
    """The micro-kernel of a local tile `width` columns wide: k split by unroll_k outside the tile's rows and
    columns; columns vectorized, in native vectors of `vector` lanes where that splits the width evenly."""
    if not (0 < vector < width and width % vector == 0):
        vector = 0
    *_, ci, cj = s[acc].op.axis
    (ck,) = s[acc].op.reduce_axis
    ko, ki = s[acc].split(ck, unroll_k)
    s[acc].reorder(ko, ki, ci, cj)
    s[acc].unroll(ki)
    if unroll_rows:
        s[acc].unroll(ci)
    if vector:
        cjo, cji = s[acc].split(cj, vector)
        s[acc].unroll(cjo)
        s[acc].vectorize(cji)
    else:
        s[acc].vectorize(cj)


def schedule_matmul_packed(s: Schedule, Bp: Tensor, C: Tensor, blocking: MatmulBlocking = MatmulBlocking()) -> None:
    """Register-block C (its tile_n must equal Bp's panel width), vectorize and parallelize.

    panel_outer: `for jo (parallel): pack Bp[jo]; for io: tile`; otherwise Bp is packed in a parallel loop
    of its own, then `for io (parallel): for jo: tile` (fuse_parallel: io and jo fused, in parallel)."""
    b = blocking
    bn = Bp.shape[2]
    if b.tile_n != bn:
        raise ValueError(f"schedule_matmul_packed: tile_n ({b.tile_n}) must equal the panel width of Bp ({bn})")
    if b.vector < 0:
        raise ValueError(f"schedule_matmul_packed: vector must be >= 0, got {b.vector}")
    (acc,) = C.op.input_tensors()
    i, j = s[C].op.axis
    io, jo, _, ji = s[C].tile(i, j, b.tile_m, b.tile_n)
    pj, _, pv = s[Bp].op.axis
    s[Bp].vectorize(pv)
    s[acc].set_scope("local")
    if b.panel_outer:
        s[C].reorder(jo, io)
        s[Bp].compute_at(s[C], jo)
        s[acc].compute_at(s[C], io)
        outer = jo
    else:
        outer = s[C].fuse(io, jo) if b.fuse_parallel else io
        s[acc].compute_at(s[C], outer if b.fuse_parallel else jo)
        if b.parallel:
            s[Bp].parallel(pj)
    schedule_gemm_tile(s, acc, bn, b.unroll_k, b.vector, b.unroll_rows)
    s[C].vectorize(ji)
    if b.parallel:
        s[C].parallel(outer)
