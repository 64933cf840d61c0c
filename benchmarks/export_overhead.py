"""Exported kernels: export/link time per kernel, and call overhead of the .so against the JIT module.

    python benchmarks/export_overhead.py [--rounds 15] [--number 20000]

Export time = compile the lowered loop IR again to a PIC object + write the C entries + `cc -shared`.
Call overhead uses a 16-element float32 add (a few ns of work): the JIT-built Module, the same kernel
loaded from the .so with `tex.load_module` (same checks, ctypes), the raw entries through ctypes with
precomputed pointers, and a C program calling the .so's plain and DLTensor entries in a loop.
"""

from __future__ import annotations

import argparse
import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex
from tex.targets.export import find_compiler

C_LOOP = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "add16.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char** argv) {
  long n = atol(argv[1]);
  float a[16] __attribute__((aligned(64))), b[16] __attribute__((aligned(64))), c[16] __attribute__((aligned(64)));
  for (int i = 0; i < 16; i++) { a[i] = i; b[i] = 1; }
  int64_t shape[1] = {16};
  DLTensor A = {a, {1, 0}, 1, {2, 32, 1}, shape, NULL, 0}, B = A, C = A; B.data = b; C.data = c;
  add16(a, b, c);
  double best_plain = 1e9, best_dl = 1e9;
  for (int r = 0; r < 15; r++) {
    double t0 = now(); for (long i = 0; i < n; i++) add16(a, b, c);
    double t1 = now(); for (long i = 0; i < n; i++) add16_dl(&A, &B, &C);
    double t2 = now();
    if ((t1 - t0) / n < best_plain) best_plain = (t1 - t0) / n;
    if ((t2 - t1) / n < best_dl) best_dl = (t2 - t1) / n;
  }
  printf("%.3f %.3f %g\n", best_plain * 1e9, best_dl * 1e9, c[15]);
  return 0;
}
"""


def gemm(n: int) -> tex.targets.Module:
    A = tex.placeholder((n, n), name="A")
    B = tex.placeholder((n, n), name="B")
    k = tex.reduce_axis((0, n), name="k")
    C = tex.compute((n, n), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    CC = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, _ii, ji = s[C].tile(i, j, 8, 32)
    s[CC].compute_at(s[C], jo)
    ci, cj = s[CC].op.axis
    (ck,) = s[CC].op.reduce_axis
    ko, ki = s[CC].split(ck, 4)
    s[CC].reorder(ko, ki, ci, cj)
    s[CC].vectorize(cj)
    s[CC].unroll(ci)
    s[C].vectorize(ji)
    s[C].parallel(io)
    return tex.build(s, [A, B, C], name=f"gemm{n}")


def add16() -> tex.targets.Module:
    A = tex.placeholder((16,), name="A")
    B = tex.placeholder((16,), name="B")
    C = tex.compute((16,), lambda i: A[i] + B[i], name="C")
    return tex.build(tex.create_schedule(C), [A, B, C], name="add16")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--number", type=int, default=20000)
    opts = p.parse_args()
    cc = find_compiler()
    if cc is None:
        sys.exit("export_overhead: no C compiler (cc/gcc/clang); install gcc")
    tmp = Path(tempfile.mkdtemp(prefix="tex-export-bench-"))

    rows = []
    for name, make in [("add16", add16), ("gemm256 (parallel, tiled)", lambda: gemm(256)),
                       ("gemm1024 (parallel, tiled)", lambda: gemm(1024))]:
        m = make()
        times = []
        for r in range(3):
            t0 = time.perf_counter()
            m.export_library(tmp / f"{m.name}_{r}.so")
            times.append(time.perf_counter() - t0)
        rows.append([name, f"{min(times) * 1e3:.1f}", f"{(tmp / f'{m.name}_0.so').stat().st_size / 1024:.0f}"])
    print(f"export time (min of 3): PIC object + C entries + cc -shared; {harness.machine()}")
    print(harness.table(rows, ["kernel", "ms", "KiB"]))

    f = add16()
    f.export_library(tmp / "add16.so")
    g = tex.load_module(tmp / "add16.so")
    a, b = np.arange(16, dtype=np.float32), np.ones(16, np.float32)
    c1, c2 = np.empty(16, np.float32), np.empty(16, np.float32)
    f(a, b, c1)
    g(a, b, c2)  # type: ignore[operator]
    np.testing.assert_array_equal(c1, c2)
    lib = ctypes.CDLL(str(tmp / "add16.so"))
    raw = lib.add16
    raw.argtypes = [ctypes.c_void_p] * 3
    pa, pb, pc = a.ctypes.data, b.ctypes.data, c2.ctypes.data
    t = harness.interleave({"JIT Module call": lambda: f(a, b, c1), "load_module(.so) call": lambda: g(a, b, c2),
                            "ctypes .so raw entry": lambda: raw(pa, pb, pc)}, opts.rounds, opts.number, pause_s=0.0)
    jit_raw = f.time_evaluator(number=opts.number, repeat=opts.rounds)(a, b, c1)
    so_raw = g.time_evaluator(number=opts.number, repeat=opts.rounds)(a, b, c2)  # type: ignore[union-attr]
    (tmp / "main.c").write_text(C_LOOP)
    subprocess.run([cc, "-O2", f"-I{tmp}", "-o", str(tmp / "main"), str(tmp / "main.c"), str(tmp / "add16.so"),
                    f"-Wl,-rpath,{tmp}"], check=True)
    out = subprocess.run([str(tmp / "main"), str(opts.number * 10)], capture_output=True, text=True, check=True)
    c_plain, c_dl, _ = out.stdout.split()
    rows = [[k, f"{v.median * 1e6:.3f}"] for k, v in t.items()]
    rows += [["JIT raw entry (time_evaluator)", f"{jit_raw.median * 1e6:.3f}"],
             [".so raw entry (time_evaluator)", f"{so_raw.median * 1e6:.3f}"],
             ["C program -> .so plain entry", f"{float(c_plain) / 1e3:.4f}"],
             ["C program -> .so DLTensor entry (checked)", f"{float(c_dl) / 1e3:.4f}"]]
    print(f"\ncall overhead, 16-element add, median of {opts.rounds} rounds x {opts.number} calls")
    print(harness.table(rows, ["call", "µs per call"]))


if __name__ == "__main__":
    main()
