"""An exported whole model called from C, against the same model through `exe.run` and onnxruntime.

    python benchmarks/export_model.py [--model light_resnet50] [--runs 20]

Compiles the ONNX model (onnx's backend test data, random input), exports it with
tex.onnx_import.export.export_model, checks the library's answer against onnxruntime, then times: a C
program calling `<name>_run` in a loop (no Python at run time), `exe.run`, and onnxruntime (one thread
pool each; pauses between contenders so their spinning threads do not steal cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex

C_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "model.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
int main(int argc, char** argv) {
  int runs = atoi(argv[1]);
  size_t nin = (size_t)atol(argv[2]), nout = (size_t)atol(argv[3]);
  float* x = aligned_alloc(64, (nin * 4 + 63) / 64 * 64); float* y = aligned_alloc(64, (nout * 4 + 63) / 64 * 64);
  FILE* f = fopen("x.bin", "rb"); if (fread(x, 4, nin, f) != nin) return 10; fclose(f);
  if (model_run(x, y) != 0) return 11;
  double* t = malloc(sizeof(double) * runs);
  for (int r = 0; r < runs; r++) { double t0 = now(); model_run(x, y); t[r] = now() - t0; }
  qsort(t, runs, sizeof(double), cmp);
  f = fopen("y.bin", "wb"); fwrite(y, 4, nout, f); fclose(f);
  printf("%.6f %.6f\n", t[runs / 2], t[0]);
  return 0;
}
"""


def main() -> None:
    import onnx
    import onnxruntime as ort

    from tex.onnx_import.export import export_model
    from tex.targets.export import find_compiler

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="light_resnet50")
    p.add_argument("--runs", type=int, default=20)
    opts = p.parse_args()
    cc = find_compiler()
    if cc is None:
        sys.exit("export_model: no C compiler (cc/gcc/clang); install gcc")
    data = Path(onnx.__file__).parent / "backend/test/data/light"
    model = onnx.load(str(data / f"{opts.model}.onnx"))
    t0 = time.perf_counter()
    exe = tex.compile(model)
    compile_s = time.perf_counter() - t0
    if len(exe.plan.inputs) != 1 or len(exe.plan.outputs) != 1:
        sys.exit("export_model: this benchmark handles one input and one output")
    tmp = Path(tempfile.mkdtemp(prefix="tex-model-bench-"))
    t0 = time.perf_counter()
    lib = export_model(exe, tmp / "model.so", name="model")
    export_s = time.perf_counter() - t0
    io_in, io_out = exe.plan.inputs[0], exe.plan.outputs[0]
    x = np.random.default_rng(0).standard_normal(io_in.shape).astype(io_in.dtype)
    (tmp / "x.bin").write_bytes(x.tobytes())
    (tmp / "main.c").write_text(C_MAIN)
    subprocess.run([cc, "-O2", f"-I{tmp}", "-o", str(tmp / "main"), str(tmp / "main.c"), str(lib),
                    f"-Wl,-rpath,{tmp}"], check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, {io_in.name: x})[0]

    time.sleep(0.5)
    out = subprocess.run([str(tmp / "main"), str(opts.runs), str(x.size), str(int(np.prod(io_out.shape)))],
                         capture_output=True, text=True, check=True, cwd=tmp)
    c_median, c_min = (float(v) for v in out.stdout.split())
    got = np.frombuffer((tmp / "y.bin").read_bytes(), io_out.dtype).reshape(io_out.shape)
    err = float(np.abs(got - want).max())

    def timed(fn: object, runs: int) -> tuple[float, float]:
        fn()  # type: ignore[operator]
        ts = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()  # type: ignore[operator]
            ts.append(time.perf_counter() - t)
        return statistics.median(ts), min(ts)

    time.sleep(0.5)
    exe_median, exe_min = timed(lambda: exe.run({io_in.name: x}), opts.runs)
    time.sleep(0.5)
    ort_median, ort_min = timed(lambda: sess.run(None, {io_in.name: x}), opts.runs)
    print(f"{opts.model}: compile {compile_s:.1f} s, export {export_s:.1f} s, library "
          f"{os.path.getsize(lib) / 2**20:.1f} MiB, max |C - onnxruntime| = {err:.2e}; {harness.machine()}")
    rows = [["C program -> model_run (exported .so)", f"{c_median * 1e3:.2f}", f"{c_min * 1e3:.2f}"],
            ["exe.run (Python executor)", f"{exe_median * 1e3:.2f}", f"{exe_min * 1e3:.2f}"],
            ["onnxruntime", f"{ort_median * 1e3:.2f}", f"{ort_min * 1e3:.2f}"]]
    print(harness.table(rows, ["runner", "median ms", "min ms"]))
    print(f"C / exe.run best: {c_min / exe_min:.3f}x (goal: within 2%)")


if __name__ == "__main__":
    main()
