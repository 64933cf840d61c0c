"""Tuner efficiency: best GFLOP/s after N trials for XGB, GA and Random, on GEMM 512 and a conv layer.

    python benchmarks/tuner_efficiency.py [--trials 100] [--seeds 3] [--plot benchmarks/tuner_efficiency.png]

Every tuner runs with the same seeds and measurement settings on each task; the table gives the median over
seeds of the best throughput found after each mark (25, 50, 100, 200, 400 up to --trials), and the trials
each tuner needs (median) to reach 90% of the best config any run found. The plot shows best-so-far
against trials, median over seeds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex.ops.x86.templates  # noqa: F401  (registers the templates)
from tex import tune

TASKS = {
    "gemm512": ("matmul", (512, 512, 512, "float32")),
    "conv128": ("conv2d_nchw", ((1, 128, 28, 28), (128, 128, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False, None,
                                "float32", True)),  # prepacked weights, as the ONNX executor runs it
}


def curve(cls: type[tune.Tuner], task: tune.Task, trials: int, seed: int, mo: tune.MeasureOption) -> list[float]:
    out: list[float] = []
    best = 0.0

    def record(tuner: tune.Tuner, inputs: list[tune.MeasureInput], results: list[tune.MeasureResult]) -> None:
        nonlocal best
        for r in results:
            if len(out) >= trials:
                return
            if r.ok:
                best = max(best, task.flop / r.cost / 1e9)
            out.append(best)

    cls(task, seed=seed).tune(trials, mo, callbacks=[record], top_k=1)
    out += [best] * (trials - len(out))  # a space smaller than `trials` is exhausted early
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--tasks", default="gemm512,conv128")
    p.add_argument("--plot", default=None, help="write a PNG of best-so-far against trials")
    opts = p.parse_args()
    tuners = [tune.XGBTuner, tune.GATuner, tune.RandomTuner]
    marks = [m for m in (25, 50, 100, 200, 400) if m <= opts.trials]
    results: dict[str, dict[str, list[list[float]]]] = {}
    mo = tune.measure_option(tune.LocalBuilder(), tune.LocalRunner(number=3, repeat=3))
    try:
        for key in opts.tasks.split(","):
            name, args = TASKS[key]
            task = tune.create_task(name, args)
            print(f"{key}: {task}, {len(task.config_space)} configs", file=sys.stderr)
            results[key] = {cls.__name__: [curve(cls, task, opts.trials, s, mo) for s in range(opts.seeds)]
                            for cls in tuners}
    finally:
        mo.close()
    print(f"tuner efficiency, median of {opts.seeds} seeds; {harness.machine()}")
    for key, per in results.items():
        top = max(c[-1] for cs in per.values() for c in cs)
        rows = []
        for tname, cs in per.items():
            med = [statistics.median(c[m - 1] for c in cs) for m in marks]
            reach = [next((i + 1 for i, v in enumerate(c) if v >= 0.9 * top), None) for c in cs]
            got = [r for r in reach if r is not None]
            rows.append([tname, *(f"{v:.1f}" for v in med),
                         f"{statistics.median(got):.0f} ({len(got)}/{len(cs)})" if got else "never"])
        print(f"\n{key} (best found: {top:.1f} GFLOP/s)")
        print(harness.table(rows, ["tuner", *(f"after {m}" for m in marks), "trials to 90% of best"]))
    if opts.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
        for ax, (key, per) in zip(axes[0], results.items(), strict=True):
            for tname, cs in per.items():
                med = [statistics.median(c[i] for c in cs) for i in range(opts.trials)]
                ax.plot(range(1, opts.trials + 1), med, label=tname)
            ax.set_title(key)
            ax.set_xlabel("trials")
            ax.set_ylabel("best GFLOP/s so far (median of seeds)")
            ax.legend()
        fig.tight_layout()
        fig.savefig(opts.plot, dpi=100)
        print(f"\nplot: {opts.plot}")


if __name__ == "__main__":
    main()
