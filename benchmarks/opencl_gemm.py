"""GEMM float32 on the OpenCL device (PoCL in CI): tex's naive and register-tiled kernels against numpy, interleaved.

    python benchmarks/opencl_gemm.py [--size 1024] [--rounds 5] [--device N] [--trials 0] [--log mm_cl.jsonl]

Contenders, all on the same inputs and checked against numpy before timing:
  naive   one output element per work-item, 16 x 16 work-groups (the GPU default schedule)
  tiled   each work-item computes a ty x tx block in private memory (cache_write "local"), k unrolled by 4,
          the tx columns unrolled; work-groups of 8 x 8
  tuned   with --trials N: the "matmul_opencl" template (tex/ops/opencl/matmul.py) tuned by XGBTuner for N trials,
          built with apply_history_best (its default config equals `tiled`)
  numpy   np.matmul(a, b, out=c) on the host (OpenBLAS)
OpenCL times are wall-clock per call including the host<->device copies (the same API the user calls);
`kernel ms` is the kernel alone from OpenCL profiling events (time_evaluator).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex
from tex import tune
from tex.driver import build
from tex.ops.opencl.matmul import matmul_opencl


def gemm(n: int) -> tuple[tex.Tensor, tex.Tensor, tex.Tensor]:
    A = tex.placeholder((n, n), name="A")
    B = tex.placeholder((n, n), name="B")
    k = tex.reduce_axis((0, n), name="k")
    return A, B, tex.compute((n, n), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")


def build_naive(n: int, target: str) -> object:
    A, B, C = gemm(n)
    s = tex.create_schedule(C)
    bi, bj, ti, tj = s[C].tile(*s[C].op.axis, 16, 16)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(ax, tex.thread_axis(tag))
    return tex.build(s, [A, B, C], target=target, name="gemm_naive")


def build_tiled(n: int, target: str, ty: int = 4, tx: int = 16, group: int = 8) -> object:
    A, B, C = gemm(n)
    s = tex.create_schedule(C)
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, ty, tx)
    bi, ti = s[C].split(io, group)
    bj, tj = s[C].split(jo, group)
    s[C].reorder(bi, bj, ti, tj, ii, ji)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(ax, tex.thread_axis(tag))
    s[CL].compute_at(s[C], tj)
    ci, cj = s[CL].op.axis
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], 4)
    s[CL].reorder(ko, ki, ci, cj)
    s[CL].unroll(ki)
    s[CL].unroll(ci)
    s[CL].unroll(cj)
    s[C].unroll(ji)
    return tex.build(s, [A, B, C], target=target, name="gemm_tiled")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", type=int, default=None, help="OpenCL device index (see `tex targets`)")
    p.add_argument("--trials", type=int, default=0, help="tune the matmul_opencl template for this many trials")
    p.add_argument("--log", default="opencl_gemm.jsonl", help="tuning log (appended)")
    opts = p.parse_args()
    n = opts.size
    target = "opencl" if opts.device is None else f"opencl -device={opts.device}"
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ref = a @ b
    kernels = {"naive": build_naive(n, target), "tiled": build_tiled(n, target)}
    s, args = matmul_opencl(n, n, n, "float32")  # the template's default config: float16 accumulators, 8x16
    kernels["vector"] = build(s, args, target=target, name="gemm_vector")
    if opts.trials:
        task = tune.create_task("matmul_opencl", (n, n, n, "float32"), target=target)
        mo = tune.measure_option(builder=tune.LocalBuilder(), runner=tune.LocalRunner(number=2, repeat=2))
        try:
            tune.XGBTuner(task, seed=0).tune(opts.trials, mo, callbacks=[tune.callback.log_to_file(opts.log)])
        finally:
            mo.close()
    if opts.trials or os.path.exists(opts.log):  # --trials 0 with an earlier log: time its best config
        with tune.apply_history_best(opts.log, target=target):
            s, args = matmul_opencl(n, n, n, "float32")
        kernels["tuned"] = build(s, args, target=target, name="gemm_tuned")
    outs = {name: np.empty((n, n), np.float32) for name in [*kernels, "numpy"]}
    for name, f in kernels.items():
        f(a, b, outs[name])
        np.testing.assert_allclose(outs[name], ref, rtol=1e-3, atol=1e-3 * np.sqrt(n), err_msg=name)
    kernel_ms = {name: f.time_evaluator(number=1, repeat=3)(a, b, outs[name]).median * 1e3
                 for name, f in kernels.items()}

    contenders = {name: (lambda f=f, c=outs[name]: f(a, b, c)) for name, f in kernels.items()}
    contenders["numpy"] = lambda: np.matmul(a, b, out=outs["numpy"])
    t = harness.interleave(contenders, opts.rounds, 1)
    flop = 2.0 * n**3
    gflops = {k: flop / v.median / 1e9 for k, v in t.items()}
    dev = next(iter(kernels.values())).ctx.name  # type: ignore[attr-defined]
    rows = [[k, f"{v.median * 1e3:.2f}", f"{kernel_ms[k]:.2f}" if k in kernel_ms else "-", f"{gflops[k]:.1f}",
             f"{gflops[k] / gflops['numpy']:.2f}x"] for k, v in t.items()]
    print(f"GEMM {n}x{n}x{n} float32 on OpenCL device '{dev}', median of {opts.rounds} interleaved rounds; "
          f"{harness.machine()}")
    print(harness.table(rows, ["kernel", "ms", "kernel ms", "GFLOP/s", "vs numpy"]))
    print(f"tiled / naive   {gflops['tiled'] / gflops['naive']:.1f}x")
    print(f"tiled / numpy   {gflops['tiled'] / gflops['numpy']:.2f}x")
    print(f"vector / numpy  {gflops['vector'] / gflops['numpy']:.2f}x   (kernel alone: "
          f"{flop / kernel_ms['vector'] / 1e6:.1f} GFLOP/s)")
    if "tuned" in gflops:
        print(f"tuned / numpy   {gflops['tuned'] / gflops['numpy']:.2f}x   (issue #4 goal on PoCL: >= 90 GFLOP/s)")


if __name__ == "__main__":
    main()
