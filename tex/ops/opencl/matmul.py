"""GEMM for OpenCL: `schedule_matmul_opencl` and the tuning template "matmul_opencl".

Each work-item computes a ty x tx block of C in private memory (cache_write "local"); work-groups are
gy x gx work-items; k is split by unroll_k and unrolled. With vec > 1 the columns of the block are split by
vec and vectorized: floatN accumulators (a private floatN array), vloadN of B, a broadcast of A, vstoreN of C.
With i = ((bi*gy + ti)*ty + ii) (likewise j), the launch is global = (N/tx, M/ty), local = (gx, gy);
tails are guarded (factors need not divide).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
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


def matmul(M: int, N: int, K: int, dtype: str = "float32") -> tuple[Tensor, Tensor, Tensor]:
    A = dsl.placeholder((M, K), dtype=dtype, name="A")
    B = dsl.placeholder((K, N), dtype=dtype, name="B")
    k = dsl.reduce_axis((0, K), name="k")
    C = dsl.compute((M, N), lambda i, j: dsl.sum(A[i, k] * B[k, j], axis=k), name="C", tag="matmul")
    return A, B, C


def schedule_matmul_opencl(s: Schedule, C: Tensor, b: OpenCLMatmulBlocking) -> None:
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
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], b.unroll_k)
    vec = min(b.vec, b.tx)
    if vec > 1:
        cjo, cjv = s[CL].split(cj, vec)
        s[CL].reorder(ko, ki, ci, cjo, cjv)
        s[CL].unroll(ki)
        s[CL].unroll(ci)
        s[CL].unroll(cjo)
        s[CL].vectorize(cjv)   # floatN accumulators, vloadN of B, a broadcast of A
        jio, jiv = s[C].split(ji, vec)
        s[C].unroll(jio)
        s[C].vectorize(jiv)    # vstoreN of C
        return
    s[CL].reorder(ko, ki, ci, cj)
    s[CL].unroll(ki)
    s[CL].unroll(ci)
    s[CL].unroll(cj)
    s[C].unroll(ji)


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
    A, B, C = matmul(M, N, K, dtype)
    s = create_schedule(C)
    blocking = OpenCLMatmulBlocking(cfg["ty"].val, cfg["tx"].val, cfg["gy"].val, cfg["gx"].val, cfg["unroll_k"].val,
                                    cfg["vec"].val)
    schedule_matmul_opencl(s, C, blocking)
    return s, [A, B, C]
