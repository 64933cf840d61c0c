"""The machine's FP32 peak: benchmarks/fp32_peak.c (independent FMA chains) on every core at once.

    python benchmarks/peak.py        # prints GFLOP/s per core and in total

Needs a C compiler (cc/gcc). GEMM figures quote their fraction of this number.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "fp32_peak.c"


def measure_peak() -> tuple[float, list[float]] | None:
    """(total GFLOP/s, per-core GFLOP/s), or None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "peak")
        subprocess.run([cc, "-O2", "-march=native", str(SOURCE), "-o", exe], check=True)
        procs = [subprocess.Popen([exe], stdout=subprocess.PIPE, text=True) for _ in range(os.cpu_count() or 1)]
        per_core = [float(p.communicate()[0].split()[0]) for p in procs]
    return sum(per_core), per_core


if __name__ == "__main__":
    got = measure_peak()
    if got is None:
        raise SystemExit("peak.py: no C compiler (cc or gcc) found")
    total, per_core = got
    print(f"FP32 peak: {total:.0f} GFLOP/s on {len(per_core)} cores ({', '.join(f'{g:.0f}' for g in per_core)})")
