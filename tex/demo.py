"""The demo behind `bash scripts/demo.sh`: write a GEMM once, schedule it two ways, build, check and time it.

    python -m tex.demo [--size 512]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import tex
from tex.ops.x86.matmul import MatmulBlocking, matmul_naive, matmul_packed, schedule_matmul_packed
from tex.targets.target import as_target


def _median_s(fn: Callable[[], object], min_time_s: float = 0.3, repeat: int = 5) -> float:
    fn()
    n, samples = 1, []
    while len(samples) < repeat:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt < min_time_s / repeat and n < 1 << 16:
            n *= 2
            continue
        samples.append(dt / n)
    return statistics.median(samples)


def gemm(n: int) -> None:
    """Naive vs hand-scheduled GEMM next to numpy."""
    target = as_target("llvm")
    print(f"== GEMM {n}x{n}x{n} float32 on {target} (CPU {target.llvm_cpu()})")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ref = a @ b

    A, B, C = matmul_naive(n, n, n)
    naive = tex.build(tex.create_schedule(C), [A, B, C], name="gemm_naive")

    A, B, Bp, C = matmul_packed(n, n, n)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, MatmulBlocking(tile_m=8, tile_n=32, unroll_k=4))
    print("-- the hand schedule, lowered (packed B panels, 8x32 register tile, vectorized, parallel):")
    print(tex.lower(s, [A, B, C], name="gemm_hand"))
    hand = tex.build(s, [A, B, C], name="gemm_hand")

    c = np.empty((n, n), np.float32)
    rows = []
    for name, fn in [("tex naive", lambda: naive(a, b, c)), ("tex hand-scheduled", lambda: hand(a, b, c)),
                     ("numpy (OpenBLAS)", lambda: np.matmul(a, b, out=c))]:
        fn()
        np.testing.assert_allclose(c, ref, rtol=1e-3, atol=1e-2, err_msg=name)
        sec = _median_s(fn, min_time_s=1.0 if "naive" in name else 0.3, repeat=3 if "naive" in name else 5)
        rows.append((name, sec))
    numpy_s = rows[-1][1]
    print(f"{'kernel':22} {'ms':>9} {'GFLOP/s':>9} {'vs numpy':>9}")
    for name, sec in rows:
        print(f"{name:22} {sec * 1e3:9.2f} {2 * n**3 / sec / 1e9:9.1f} {numpy_s / sec:8.2f}x")
    asm = hand.get_source("asm")
    fmas = sum(1 for line in asm.splitlines() if "vfmadd" in line and "zmm" in line)
    print(f"(all three agree with numpy; the hand kernel's assembly has {fmas} zmm FMA instructions)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tex.demo", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512, help="GEMM size (default 512)")
    opts = p.parse_args(argv)
    gemm(opts.size)


if __name__ == "__main__":
    main()
