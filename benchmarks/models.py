"""Batch-1 latency of the nine light ONNX models: tex untuned, tex tuned (with --log) and onnxruntime, interleaved.

    python benchmarks/models.py [--models resnet50,squeezenet] [--rounds 10] [--threads 2] [--log X.jsonl]

Per model: compile time, the median of `--rounds` interleaved rounds of each contender (harness.interleave:
a pause and an untimed call before each timed one, so no contender pays for another's spinning threads),
the ratios to onnxruntime (same thread count) and the max abs error of each tex output against it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODELS = ["resnet50", "squeezenet", "shufflenet", "inception_v1", "inception_v2", "densenet121", "bvlc_alexnet",
          "zfnet512", "vgg19"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log", default=None, help="a tuning log (tex tune model.onnx): adds a tuned column")
    a = ap.parse_args()
    rows = []
    for name in a.models.split(","):
        path = f"{LIGHT}/light_{name}.onnx"
        t0 = time.perf_counter()
        exes = {"untuned": tex.compile(path)}
        compile_s = time.perf_counter() - t0
        if a.log:
            exes["tuned"] = tex.compile(path, tuning_log=a.log)
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.log_severity_level = 3
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = exes["untuned"].plan.inputs[0]
        feeds = {inp.name: np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)}
        ref = sess.run(None, feeds)[0]
        errs = {k: float(np.abs(e.run(feeds)[e.output_names[0]] - ref).max()) for k, e in exes.items()}
        contenders = {f"tex {k}": (lambda e=e, f=feeds: e.run(f)) for k, e in exes.items()}
        contenders["onnxruntime"] = lambda s=sess, f=feeds: s.run(None, f)
        # onnxruntime's worker threads keep spinning for ~40 ms after a run (measured on 2026-12-04): a
        # contender started inside that window shares a core with them, so the pause outlasts it
        t = harness.interleave(contenders, a.rounds, pause_s=0.1)
        ms = {k: v.median * 1e3 for k, v in t.items()}
        row = [name, f"{compile_s:.1f}", f"{ms['onnxruntime']:.2f}", f"{ms['tex untuned']:.2f}",
               f"{ms['tex untuned'] / ms['onnxruntime']:.2f}x"]
        if a.log:
            row += [f"{ms['tex tuned']:.2f}", f"{ms['tex tuned'] / ms['onnxruntime']:.2f}x"]
        row.append(" / ".join(f"{v:.1g}" for v in errs.values()))
        rows.append(row)
        print(" | ".join(row), file=sys.stderr, flush=True)
    header = ["model", "compile s", "onnxruntime ms", "tex untuned ms", "untuned / ort"]
    if a.log:
        header += ["tex tuned ms", "tuned / ort"]
    header.append("max abs err")
    print(f"light ONNX models, batch 1, {a.threads} threads, median of {a.rounds} interleaved rounds; "
          f"{harness.machine()}")
    print(harness.table(rows, header))


if __name__ == "__main__":
    main()
