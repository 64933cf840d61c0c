"""What every benchmark shares: interleaved timing rounds, medians, ratios and a description of the machine.

Each contender is a zero-argument callable. One round calls every contender once, in the same order, and
times `number` calls of each; `rounds` rounds give `rounds` samples per contender, whose median is reported.
A pause between contenders lets the thread pools of the previous one (OpenBLAS, libgomp, onnxruntime)
stop spinning, so that no contender pays for another one's idle threads; one untimed call after the pause
wakes the next contender's own pool.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Timing:
    name: str
    samples: list[float]  # seconds per call, one per round

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def interleave(contenders: dict[str, Callable[[], object]], rounds: int, number: int | dict[str, int] = 1,
               pause_s: float = 0.1, warmup: int = 1) -> dict[str, Timing]:
    """Time each contender `number` calls per round, `rounds` rounds, interleaved; seconds per call.

    The order rotates by one each round, so that no contender always runs first in a round or always right
    after the same other one (on this shared VM either showed as a few per cent)."""
    numbers = number if isinstance(number, dict) else dict.fromkeys(contenders, number)
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    out = {name: Timing(name, []) for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn = contenders[name]
            if pause_s:
                time.sleep(pause_s)
                fn()  # untimed: wakes the contender's sleeping thread pool (~150 µs on this VM)
            n = numbers[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            out[name].samples.append((time.perf_counter() - t0) / n)
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: date, CPU, cores and the versions that matter."""
    import llvmlite
    import numpy

    import tex

    parts = [time.strftime("%Y-%m-%d"), cpu_model(), f"{os.cpu_count()} cores",
             f"tex {tex.__version__}", f"numpy {numpy.__version__}", f"llvmlite {llvmlite.__version__}"]
    try:
        import onnxruntime

        parts.append(f"onnxruntime {onnxruntime.__version__}")
    except ImportError:
        pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        if rev.returncode == 0:
            parts.append(f"commit {rev.stdout.strip()}")
    except (OSError, subprocess.SubprocessError):
        pass
    return ", ".join(parts)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A Markdown table."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header))]
    fmt = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    lines = [fmt.format(*header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt.format(*map(str, r)) for r in rows]
    return "\n".join(lines)
