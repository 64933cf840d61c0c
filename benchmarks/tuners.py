"""Tuners compared on a real task: best GFLOP/s found after N trials by XGBTuner, GATuner and RandomTuner.

    python benchmarks/tuners.py [--task matmul] [--trials 64] [--seeds 2]

Each tuner runs with the same seeds on the same task (the x86 matmul template, 512^3 by default) and the
same measurement settings; the table gives, per tuner, the median over seeds of the best throughput seen
after 8, 16, 32 and `--trials` trials, and of the number of trials needed to come within 5% of the best
config any run found. The tuners run one after another (tuning runs are long), not interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex.ops.x86.templates  # noqa: F401  (registers the templates)
from tex import tune


def run(tuner_cls: type[tune.Tuner], task: tune.Task, trials: int, seed: int, mo: tune.MeasureOption) -> list[float]:
    """Best GFLOP/s after each trial."""
    curve: list[float] = []
    best = 0.0

    def record(tuner: tune.Tuner, inputs: list[tune.MeasureInput], results: list[tune.MeasureResult]) -> None:
        nonlocal best
        if len(curve) >= trials:  # the final re-measurement of the top configs is not a search trial
            return
        for r in results:
            if r.ok:
                best = max(best, task.flop / r.cost / 1e9)
            curve.append(best)

    tuner_cls(task, seed=seed).tune(trials, mo, callbacks=[record], top_k=1)
    return curve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="matmul")
    p.add_argument("--args", default="[512, 512, 512, \"float32\"]", help="the template's args as JSON")
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--seeds", type=int, default=2)
    opts = p.parse_args()
    task = tune.create_task(opts.task, tuple(json.loads(opts.args)))
    mo = tune.measure_option(tune.LocalBuilder(), tune.LocalRunner(number=5, repeat=3))
    curves: dict[str, list[list[float]]] = {}
    try:
        for cls in (tune.XGBTuner, tune.GATuner, tune.RandomTuner):
            curves[cls.__name__] = [run(cls, task, opts.trials, seed, mo) for seed in range(opts.seeds)]
    finally:
        mo.close()
    overall = max(c[-1] for cs in curves.values() for c in cs)
    marks = [m for m in (8, 16, 32, opts.trials) if m <= opts.trials]
    rows = []
    for name, cs in curves.items():
        at = [statistics.median(c[min(m, len(c)) - 1] for c in cs) for m in marks]
        within = [next((i + 1 for i, v in enumerate(c) if v >= 0.95 * overall), None) for c in cs]
        reached = [w for w in within if w is not None]
        rows.append([name, *(f"{v:.1f}" for v in at),
                     f"{statistics.median(reached):.0f} ({len(reached)}/{len(cs)} runs)" if reached else "never"])
    print(f"{task}: {len(task.config_space)} configs, {opts.seeds} seeds; {harness.machine()}")
    print(harness.table(rows, ["tuner", *(f"best after {m}" for m in marks), "trials to 95% of best"]))


if __name__ == "__main__":
    main()
