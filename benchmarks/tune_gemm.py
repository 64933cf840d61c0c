"""Tune GEMM 1024^3 float32 with XGBTuner, then time the tuned kernel against numpy and onnxruntime's Gemm.

    python benchmarks/tune_gemm.py [--size 1024] [--trials 64] [--more 0] [--log FILE]

Prints the best GFLOP/s after 16/32/64/... trials, the tuning throughput (trials per second, worker
start-up included), and then the tuned kernel (built from the log with apply_history_best), numpy and
onnxruntime (a Gemm node with A and B as inputs, like tex's kernel, which repacks B on every call)
interleaved, with medians and ratios. --more N continues the same log for N more trials; --trials 0 only
times the best config of an existing --log. The tuned
kernel is also timed as the tuner timed it (time_evaluator, 3 x 3 calls, median) in this process, to tell
the selection bias of "best in tuning" (the maximum of noisy measurements) from a slower final run; the
load average is printed before tuning and before the final timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from peak import measure_peak

import tex
import tex.ops.x86.templates as templates
from tex import tune
from tex.tune.record import load_records


def ort_gemm(n: int):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Gemm", ["A", "B"], ["C"])], "gemm",
                          [helper.make_tensor_value_info("A", TensorProto.FLOAT, [n, n]),
                           helper.make_tensor_value_info("B", TensorProto.FLOAT, [n, n])],
                          [helper.make_tensor_value_info("C", TensorProto.FLOAT, [n, n])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def tune_curve(task: tune.Task, trials: int, log: str, seed: int) -> tuple[list[float], float]:
    curve: list[float] = []
    best = 0.0

    def record(tuner: tune.Tuner, inputs: list[tune.MeasureInput], results: list[tune.MeasureResult]) -> None:
        nonlocal best
        if len(curve) >= trials:
            return
        for r in results:
            if r.ok:
                best = max(best, task.flop / r.cost / 1e9)
            curve.append(best)

    mo = tune.measure_option(tune.LocalBuilder(), tune.LocalRunner(number=3, repeat=3))
    t0 = time.monotonic()
    try:
        tune.XGBTuner(task, seed=seed).tune(trials, mo, resume=log, callbacks=[
            record, tune.callback.log_to_file(log), tune.callback.progress_bar(trials)])
    finally:
        mo.close()
    return curve, time.monotonic() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--more", type=int, default=0, help="continue the log for this many more trials")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--log", default=None)
    p.add_argument("--seed", type=int, default=0)
    opts = p.parse_args()
    n = opts.size
    log = opts.log or str(Path(tempfile.mkdtemp()) / "tune_gemm.jsonl")
    task = tune.create_task("matmul", (n, n, n, "float32"))
    print(f"{task}: {len(task.config_space)} configs; log {log}", file=sys.stderr)
    load0 = os.getloadavg()[0]
    if opts.trials == 0 and not (opts.log and Path(opts.log).exists()):
        p.error("--trials 0 times the best config of an existing --log, which is missing")
    curve, secs = tune_curve(task, opts.trials, log, opts.seed) if opts.trials else ([], 0.0)
    if opts.more:
        more, secs2 = tune_curve(task, opts.more, log, opts.seed + 1)
        curve += [max(curve[-1], v) for v in more]
        secs += secs2

    best = min((r for r in load_records(log) if r.ok), key=lambda r: r.cost)
    with tune.apply_history_best(log):
        s, args = templates.matmul(n, n, n, "float32")
    f = tex.build(s, args, name="gemm_tuned")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c_tex, c_np = np.empty((n, n), np.float32), np.empty((n, n), np.float32)
    f(a, b, c_tex)
    np.testing.assert_allclose(c_tex, a @ b, rtol=1e-3, atol=1e-2)
    sess = ort_gemm(n)
    np.testing.assert_allclose(sess.run(None, {"A": a, "B": b})[0], a @ b, rtol=1e-3, atol=1e-2)
    load1 = os.getloadavg()[0]
    time.sleep(0.5)  # numpy's idle OpenBLAS thread spins (sched_yield) ~0.1 s after a call: let it stop
    as_tuned = f.time_evaluator(number=3, repeat=3)(a, b, c_tex).median
    t = harness.interleave({"tex tuned": lambda: f(a, b, c_tex), "numpy": lambda: np.matmul(a, b, out=c_np),
                            "onnxruntime Gemm": lambda: sess.run(None, {"A": a, "B": b})}, opts.rounds, 5)
    peak = measure_peak()
    flop = 2.0 * n**3
    g = {k: flop / v.median / 1e9 for k, v in t.items()}
    print(f"GEMM {n}^3 float32 tuned with XGBTuner; {harness.machine()}; FP32 peak "
          f"{peak[0] if peak else float('nan'):.0f} GFLOP/s")
    marks = [m for m in (16, 32, 64, 128, 256, 400) if m <= len(curve)]
    print(harness.table([[str(m), f"{curve[m - 1]:.1f}"] for m in marks], ["trials", "best GFLOP/s (in tuning)"]))
    print(f"tuning: {len(curve)} trials in {secs:.0f} s = {len(curve) / max(secs, 1e-9):.2f} trials/s; load "
          f"average {load0:.1f} before tuning, {load1:.1f} before timing")
    print(f"best config {best.config}: {flop / best.cost / 1e9:.1f} GFLOP/s in tuning, "
          f"{flop / as_tuned / 1e9:.1f} timed the same way now (time_evaluator 3 x 3, median)")
    rows = [[k, f"{v.median * 1e3:.2f}", f"{g[k]:.1f}", f"{g['tex tuned'] / g[k]:.2f}x"] for k, v in t.items()]
    print(harness.table(rows, ["kernel", "ms (median)", "GFLOP/s", "tex / this"]))


if __name__ == "__main__":
    main()
