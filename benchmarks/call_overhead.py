"""The cost of calling a tiny tex kernel from Python, against numpy doing the same work.

    python benchmarks/call_overhead.py [--rounds 15]

The kernel adds two 16-element float32 vectors, so its run time is a few nanoseconds and what is timed is
the call: argument checks (count, shape, dtype, contiguity, aliasing) and the jump into native code.
Compared with `np.add(a, b, out=c)`, itself a call into C with its own checks, and with the checked call
through `time_evaluator`, which checks once and then calls the raw entry point in a loop.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--number", type=int, default=20000)
    opts = p.parse_args()

    n = 16
    A = tex.placeholder((n,), name="A")
    B = tex.placeholder((n,), name="B")
    C = tex.compute((n,), lambda i: A[i] + B[i], name="C")
    f = tex.build(tex.create_schedule(C), [A, B, C], name="add16")
    a, b = np.arange(n, dtype=np.float32), np.ones(n, np.float32)
    c, c_np = np.empty(n, np.float32), np.empty(n, np.float32)
    f(a, b, c)
    np.testing.assert_array_equal(c, a + b)

    t = harness.interleave({"tex call": lambda: f(a, b, c), "numpy np.add(out=)": lambda: np.add(a, b, out=c_np)},
                           opts.rounds, opts.number, pause_s=0.0)
    raw = f.time_evaluator(number=opts.number, repeat=opts.rounds)(a, b, c)
    rows = [[k, f"{v.median * 1e6:.2f}"] for k, v in t.items()]
    rows.append(["tex raw entry (time_evaluator)", f"{raw.median * 1e6:.3f}"])
    print(f"call overhead, 16-element add, median of {opts.rounds} rounds x {opts.number} calls; {harness.machine()}")
    print(harness.table(rows, ["call", "µs per call"]))
    ratio = t["tex call"].median / t["numpy np.add(out=)"].median
    print(f"tex call / numpy call   {ratio:.2f}x;  tex call {t['tex call'].median * 1e6:.2f} µs (goal < 10 µs)")


if __name__ == "__main__":
    main()
