"""A ResNet-50 3x3 conv2d (batch 1, padding 1) on the OpenCL device (PoCL in CI) against onnxruntime, interleaved.

    python benchmarks/opencl_conv.py [--layer 0] [--rounds 5] [--device N] [--trials 48] [--budget 300]
                                     [--log conv_cl.jsonl]

Contenders, all on the same inputs and checked against onnxruntime's output before timing:
  default      the "conv2d_nchw_opencl" template (tex/ops/opencl/conv2d.py) with its default config
  tuned        with --trials N: that template tuned by XGBTuner for N trials (or --budget seconds; checked
               between batches of 8), built with apply_history_best over the log, which holds the default too
  llvm         the x86 "conv2d_nchw" template's default config on the host (NCHWc blocking, weight packed
               inside the call), for context
  onnxruntime  a one-node Conv model on the host (CPUExecutionProvider, weights as an initializer)
OpenCL times are wall-clock per call including the host<->device copies (the same API the user calls);
`kernel ms` is the kernel alone from OpenCL profiling events (time_evaluator).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from tune_conv import ort_conv

import tex
import tex.ops.x86.templates as x86
from tex import tune
from tex.ops.opencl.conv2d import conv2d_nchw_opencl

LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]  # (channels in = out, height = width)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layer", type=int, default=0, help=f"index into {LAYERS}")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", type=int, default=None, help="OpenCL device index (see `tex targets`)")
    p.add_argument("--trials", type=int, default=0, help="tune the conv2d_nchw_opencl template for this many trials")
    p.add_argument("--budget", type=float, default=300.0, help="stop tuning after this many seconds")
    p.add_argument("--log", default="opencl_conv.jsonl", help="tuning log (appended; if it exists, the tuned row "
                   "uses it even without --trials)")
    opts = p.parse_args()
    c, hw = LAYERS[opts.layer]
    target = "opencl" if opts.device is None else f"opencl -device={opts.device}"
    args = ((1, c, hw, hw), (c, c, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), "float32")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(args[0], dtype=np.float32)
    w = rng.standard_normal(args[1], dtype=np.float32) * 0.05
    sess = ort_conv(w, x.shape)
    ref = sess.run(None, {"x": x})[0]

    s, targs = conv2d_nchw_opencl(*args)
    kernels = {"default": tex.build(s, targs, target=target, name="conv_default")}
    tuned_note = ""
    if opts.trials:
        task = tune.create_task("conv2d_nchw_opencl", args, target=target)
        mo = tune.measure_option(builder=tune.LocalBuilder(), runner=tune.LocalRunner(number=2, repeat=2))
        t0 = time.monotonic()
        tuner = tune.XGBTuner(task, seed=0)
        log = tune.callback.log_to_file(opts.log)
        try:
            # the default config is logged first, so that the tuned kernel is never worse than it
            first = [tune.MeasureInput(task, task.config_space.default())]
            log(tuner, first, mo.measure(first))
            tuner.tune(opts.trials, mo, callbacks=[log], budget_s=opts.budget)
        finally:
            mo.close()
        tuned_note = f"{tuner.trials} trials in {time.monotonic() - t0:.0f} s of {len(task.config_space)} configs"
    if Path(opts.log).exists():  # this run's tuning, or an earlier run's log
        with tune.apply_history_best(opts.log, target=target):
            s, targs = conv2d_nchw_opencl(*args)
        kernels["tuned"] = tex.build(s, targs, target=target, name="conv_tuned")
    s, targs = x86.conv2d_nchw(*args[:5])
    llvm = tex.build(s, targs, target="llvm", name="conv_llvm")

    outs = {name: np.empty_like(ref) for name in [*kernels, "llvm"]}
    for name, f in [*kernels.items(), ("llvm", llvm)]:
        f(x, w, outs[name])
        np.testing.assert_allclose(outs[name], ref, rtol=1e-3, atol=1e-3, err_msg=name)
    kernel_ms = {name: f.time_evaluator(number=1, repeat=3)(x, w, outs[name]).median * 1e3
                 for name, f in kernels.items()}

    contenders = {name: (lambda f=f, y=outs[name]: f(x, w, y)) for name, f in kernels.items()}
    contenders["llvm"] = lambda: llvm(x, w, outs["llvm"])
    contenders["onnxruntime"] = lambda: sess.run(None, {"x": x})
    t = harness.interleave(contenders, opts.rounds, 3)
    flop = 2.0 * c * c * 9 * hw * hw
    gflops = {k: flop / v.median / 1e9 for k, v in t.items()}
    dev = kernels["default"].ctx.name  # type: ignore[attr-defined]
    rows = [[k, f"{v.median * 1e3:.2f}", f"{kernel_ms[k]:.2f}" if k in kernel_ms else "-", f"{gflops[k]:.1f}",
             f"{gflops[k] / gflops['onnxruntime']:.2f}x"] for k, v in t.items()]
    print(f"conv2d 3x3 pad 1, {c}ch {hw}x{hw}, batch 1, float32 on OpenCL device '{dev}', median of {opts.rounds} "
          f"interleaved rounds; {harness.machine()}")
    print(harness.table(rows, ["kernel", "ms", "kernel ms", "GFLOP/s", "vs onnxruntime"]))
    if "tuned" in gflops:
        print(f"tuned / default {gflops['tuned'] / gflops['default']:.2f}x   ({tuned_note or 'from ' + opts.log})")


if __name__ == "__main__":
    main()
