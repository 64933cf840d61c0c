"""Batch-1 latency of the nine light ONNX models: tex (untuned, or with --log) vs onnxruntime, interleaved.

Usage: python benchmarks/onnx_models.py [--models resnet50,squeezenet] [--repeat 10] [--threads 2] [--log X.jsonl]
Prints per model: compile time, tex median, onnxruntime median, ratio, max abs error.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import onnx
import onnxruntime as ort

import tex

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
MODELS = ["resnet50", "squeezenet", "shufflenet", "inception_v1", "inception_v2", "densenet121", "bvlc_alexnet",
          "zfnet512", "vgg19"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log", default=None)
    a = ap.parse_args()
    print(f"{'model':14s} {'compile s':>9s} {'tex ms':>9s} {'ort ms':>9s} {'ratio':>6s} {'max err':>9s}")
    for name in a.models.split(","):
        path = f"{LIGHT}/light_{name}.onnx"
        t0 = time.perf_counter()
        exe = tex.compile(path, tuning_log=a.log)
        compile_s = time.perf_counter() - t0
        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.log_severity_level = 3
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = exe.plan.inputs[0]
        x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
        feeds = {inp.name: x}
        tt, to = [], []
        for _ in range(a.repeat + 1):  # interleaved; the first round (thread pools waking) is dropped
            time.sleep(0.05)
            exe.run(feeds)  # untimed wake-up call (libgomp)
            t = time.perf_counter()
            got = exe.run(feeds)
            tt.append(time.perf_counter() - t)
            time.sleep(0.05)
            sess.run(None, feeds)
            t = time.perf_counter()
            ref = sess.run(None, feeds)
            to.append(time.perf_counter() - t)
        mt, mo = np.median(tt[1:]) * 1e3, np.median(to[1:]) * 1e3
        err = float(np.abs(got[exe.output_names[0]] - ref[0]).max())
        print(f"{name:14s} {compile_s:9.1f} {mt:9.2f} {mo:9.2f} {mt / mo:6.2f} {err:9.2g}", flush=True)


if __name__ == "__main__":
    main()
