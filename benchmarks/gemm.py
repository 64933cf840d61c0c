"""GEMM float32: tex's naive and hand-scheduled kernels against numpy (OpenBLAS), interleaved.

    python benchmarks/gemm.py [--size 1024] [--rounds 7] [--peak 510]

Contenders, all on the same inputs and checked against numpy before timing:
  naive        the default schedule of C[i, j] = sum_k A[i, k] * B[k, j] (three serial loops)
  hand serial  packed B panels, an 8 x 32 register tile in a local accumulator, k unrolled, vectorized
  hand         the same schedule with the outer row-block loop (and the packing) parallel
  numpy        np.matmul(a, b, out=c)
"of peak" divides by the machine's FP32 peak, measured first by benchmarks/peak.py (FMA chains in C on every
core; about 232 GFLOP/s on the 2-core AVX-512 machine) unless --peak gives it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from peak import measure_peak

import tex
from tex.ops.x86.matmul import MatmulBlocking, matmul_naive, matmul_packed, schedule_matmul_packed
from tex.targets.runtime import Module


def build_hand(n: int, parallel: bool) -> Module:
    A, B, Bp, C = matmul_packed(n, n, n)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, MatmulBlocking(parallel=parallel))
    return tex.build(s, [A, B, C], name="gemm_hand" if parallel else "gemm_hand_serial")


def build_naive(n: int) -> Module:
    A, B, C = matmul_naive(n, n, n)
    return tex.build(tex.create_schedule(C), [A, B, C], name="gemm_naive")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--peak", type=float, default=None, help="FP32 peak of this machine, GFLOP/s (default: measure)")
    p.add_argument("--pause", type=float, default=0.1, help="seconds between contenders (idle thread pools settle)")
    opts = p.parse_args()
    n = opts.size
    if opts.peak is None:
        measured = measure_peak()
        opts.peak = measured[0] if measured else float("nan")

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ref = a @ b
    kernels = {"naive": build_naive(n), "hand serial": build_hand(n, False), "hand": build_hand(n, True)}
    outs = {name: np.empty((n, n), np.float32) for name in [*kernels, "numpy"]}
    for name, f in kernels.items():
        f(a, b, outs[name])
        np.testing.assert_allclose(outs[name], ref, rtol=1e-3, atol=1e-3 * np.sqrt(n), err_msg=name)

    contenders = {name: (lambda f=f, c=outs[name]: f(a, b, c)) for name, f in kernels.items()}
    contenders["numpy"] = lambda: np.matmul(a, b, out=outs["numpy"])
    per_call_ms = {"naive": 2000.0, "hand serial": 20.0, "hand": 10.0, "numpy": 10.0}
    number = {k: max(1, round(100 / v)) for k, v in per_call_ms.items()}  # about 0.1 s per sample
    t = harness.interleave(contenders, opts.rounds, number, pause_s=opts.pause)

    flop = 2.0 * n**3
    gflops = {k: flop / v.median / 1e9 for k, v in t.items()}
    rows = [[k, f"{v.median * 1e3:.2f}", f"{gflops[k]:.1f}", f"{gflops[k] / opts.peak:.0%}",
             f"{gflops[k] / gflops['numpy']:.2f}x"] for k, v in t.items()]
    print(f"GEMM {n}x{n}x{n} float32, median of {opts.rounds} interleaved rounds; {harness.machine()}; "
          f"FP32 peak {opts.peak:.0f} GFLOP/s")
    print(harness.table(rows, ["kernel", "ms", "GFLOP/s", "of peak", "vs numpy"]))
    print(f"hand / numpy            {gflops['hand'] / gflops['numpy']:.2f}x   (goal >= 1.0, floor 0.7)")
    print(f"parallel / serial       {gflops['hand'] / gflops['hand serial']:.2f}x   (goal >= 1.8)")
    print(f"hand / naive            {gflops['hand'] / gflops['naive']:.0f}x    (goal >= 50)")


if __name__ == "__main__":
    main()
