"""GEMM for OpenCL: `schedule_matmul_opencl` and the tuning template "matmul_opencl".

Each work-item computes a ty x tx block of C in private memory (cache_write "local"); work-groups are
gy x gx work-items; k is split by unroll_k and unrolled. With vec > 1 the columns of the block are split by
vec and vectorized: floatN accumulators (a private floatN array), vloadN of B, a broadcast of A, vstoreN of C.
With i = ((bi*gy + ti)*ty + ii) (likewise j), the launch is global = (N/tx, M/ty), local = (gx, gy);
tails are guarded (factors need not divide).

With shared, k is split into tiles of tile_k (k = ko*tile_k + kr); for each ko the work-group copies the
(gy*ty) x tile_k block of A and the tile_k x (gx*tx) block of B into __local memory, every work-item a
share (the copy loops are bound to the group's threadIdx.y/x), between two barriers; the register
tile then reads them from there. It pays on GPUs, where global memory is far; on a CPU (PoCL) it does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import IterVar, Tensor
from tex.schedule import Schedule, create_schedule
from tex.tune import get_config, template


@dataclass(frozen=True)
class OpenCLMatmulBlocking:
    ty: int = 8        # rows of C per work-item
    tx: int = 16       # columns of C per work-item
    gy: int = 2        # work-group rows
    gx: int = 16       # work-group columns
    unroll_k: int = 4
    vec: int = 16      # vector width: each row of the block is tx / vec floatN accumulators (1: scalar code)
    shared: bool = False  # stage tiles of A and B in __local memory, filled by the whole work-group
    tile_k: int = 16   # k per shared tile (rounded up to a multiple of unroll_k); only with shared


def matmul(M: int, N: int, K: int, dtype: str = "float32") -> tuple[Tensor, Tensor, Tensor]:
    A = dsl.placeholder((M, K), dtype=dtype, name="A")
    B = dsl.placeholder((K, N), dtype=dtype, name="B")
    k = dsl.reduce_axis((0, K), name="k")
    C = dsl.compute((M, N), lambda i, j: dsl.sum(A[i, k] * B[k, j], axis=k), name="C", tag="matmul")
    return A, B, C


def schedule_matmul_opencl(s: Schedule, C: Tensor, b: OpenCLMatmulBlocking) -> None:
    tiles = [s.cache_read(t, "shared", [C]) for t in C.op.input_tensors()] if b.shared else []
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, b.ty, b.tx)
    bi, ti = s[C].split(io, b.gy)
    bj, tj = s[C].split(jo, b.gx)
    s[C].reorder(bi, bj, ti, tj, ii, ji)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(ax, dsl.thread_axis(tag))
    s[CL].compute_at(s[C], tj)
    ci, cj = s[CL].op.axis
    k = s[CL].op.reduce_axis[0]
    kt: list[IterVar] = []  # with shared: the k-tile loop, outermost, where the tiles are filled
    if tiles:
        tile_k = -(-max(b.tile_k, b.unroll_k) // b.unroll_k) * b.unroll_k
        kto, k = s[CL].split(k, tile_k)
        for X in tiles:  # filled by the work-group at each k tile, read by every work-item's register tile
            s[X].compute_at(s[CL], kto)
            cooperative_fill(s, X, b.gy, b.gx)
        kt = [kto]
    ko, ki = s[CL].split(k, b.unroll_k)
    vec = min(b.vec, b.tx)
    if vec > 1:
        cjo, cjv = s[CL].split(cj, vec)
        s[CL].reorder(*kt, ko, ki, ci, cjo, cjv)
        s[CL].unroll(ki)
        s[CL].unroll(ci)
        s[CL].unroll(cjo)
        s[CL].vectorize(cjv)   # floatN accumulators, vloadN of B, a broadcast of A
        jio, jiv = s[C].split(ji, vec)
        s[C].unroll(jio)
        s[C].vectorize(jiv)    # vstoreN of C
        return
    s[CL].reorder(*kt, ko, ki, ci, cj)
    s[CL].unroll(ki)
    s[CL].unroll(ci)
    s[CL].unroll(cj)
    s[C].unroll(ji)


def cooperative_fill(s: Schedule, X: Tensor, gy: int, gx: int) -> None:
    """Copy the shared stage X as rounds of gy x gx work-items: its axes fused to f, f = (r*gy + y)*gx + x
    with y, x bound to threadIdx.y/x; give the extents of the compute's thread loops (a wider fill would put
    the barriers under a thread guard). Tails are guarded. Call after `s[X].compute_at(...)`."""
    fused = s[X].fuse(*s[X].op.axis)
    _, inner = s[X].split(fused, gx * gy)
    y, x = s[X].split(inner, gx)
    s[X].bind(y, dsl.thread_axis("threadIdx.y"))
    s[X].bind(x, dsl.thread_axis("threadIdx.x"))


def _ref(M: int, N: int, K: int, dtype: str) -> object:
    return lambda a, b: np.matmul(a, b)


@template("matmul_opencl", reference=_ref, flop=lambda M, N, K, dtype: 2.0 * M * N * K)
def matmul_opencl(M: int, N: int, K: int, dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    cfg = get_config()
    cfg.define_knob("ty", [1, 2, 4, 8], default=8)
    cfg.define_knob("tx", [4, 8, 16, 32], default=16)
    cfg.define_knob("gy", [1, 2, 4, 8, 16], default=2)
    cfg.define_knob("gx", [1, 2, 4, 8, 16], default=16)
    cfg.define_knob("unroll_k", [1, 2, 4, 8], default=4)
    cfg.define_knob("vec", [1, 4, 8, 16], default=16)  # capped at tx
    cfg.define_knob("shared", [0, 1], default=0)  # __local tiles of A and B: for GPUs, slower on PoCL
    A, B, C = matmul(M, N, K, dtype)
    s = create_schedule(C)
    blocking = OpenCLMatmulBlocking(cfg["ty"].val, cfg["tx"].val, cfg["gy"].val, cfg["gx"].val, cfg["unroll_k"].val,
                                    cfg["vec"].val, bool(cfg["shared"].val))
    schedule_matmul_opencl(s, C, blocking)
    return s, [A, B, C]
