"""The demo behind `bash scripts/demo.sh`: write a GEMM once, schedule it by hand, tune it, run it.

    python -m tex.demo [--size 512] [--trials 40]

1. GEMM with the naive and a hand-written schedule, the lowered loop nest, GFLOP/s next to numpy.
2. `tex tune` in-process: the XGBoost tuner searches the matmul template's space, every measurement
   goes to a log, and `apply_history_best` rebuilds with the best config found.
3. A whole ONNX model (a light model shipped in the onnx package) compiled by tex and run next to
   onnxruntime (the competitor, when installed) on the same input.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import tex
from tex.ops.x86.matmul import MatmulBlocking, matmul_naive, matmul_packed, schedule_matmul_packed
from tex.targets.target import as_target


def _median_s(fn: Callable[[], object], min_time_s: float = 0.3, repeat: int = 5) -> float:
    fn()
    n, samples = 1, []
    while len(samples) < repeat:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt < min_time_s / repeat and n < 1 << 16:
            n *= 2
            continue
        samples.append(dt / n)
    return statistics.median(samples)


def gemm(n: int) -> None:
    """Naive vs hand-scheduled GEMM next to numpy."""
    target = as_target("llvm")
    print(f"== GEMM {n}x{n}x{n} float32 on {target} (CPU {target.llvm_cpu()})")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ref = a @ b

    A, B, C = matmul_naive(n, n, n)
    naive = tex.build(tex.create_schedule(C), [A, B, C], name="gemm_naive")

    A, B, Bp, C = matmul_packed(n, n, n)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, MatmulBlocking(tile_m=8, tile_n=32, unroll_k=4))
    print("-- the hand schedule, lowered (packed B panels, 8x32 register tile, vectorized, parallel):")
    print(tex.lower(s, [A, B, C], name="gemm_hand"))
    hand = tex.build(s, [A, B, C], name="gemm_hand")

    c = np.empty((n, n), np.float32)
    rows = []
    for name, fn in [("tex naive", lambda: naive(a, b, c)), ("tex hand-scheduled", lambda: hand(a, b, c)),
                     ("numpy (OpenBLAS)", lambda: np.matmul(a, b, out=c))]:
        fn()
        np.testing.assert_allclose(c, ref, rtol=1e-3, atol=1e-2, err_msg=name)
        sec = _median_s(fn, min_time_s=1.0 if "naive" in name else 0.3, repeat=3 if "naive" in name else 5)
        rows.append((name, sec))
    numpy_s = rows[-1][1]
    print(f"{'kernel':22} {'ms':>9} {'GFLOP/s':>9} {'vs numpy':>9}")
    for name, sec in rows:
        print(f"{name:22} {sec * 1e3:9.2f} {2 * n**3 / sec / 1e9:9.1f} {numpy_s / sec:8.2f}x")
    asm = hand.get_source("asm")
    reg = "zmm" if "zmm" in asm else "ymm"  # AVX-512 or AVX2 host
    fmas = sum(1 for line in asm.splitlines() if "vfmadd" in line and reg in line)
    print(f"(all three agree with numpy; the hand kernel's assembly has {fmas} {reg} FMA instructions)")


def tuning(n: int, trials: int, log: str) -> None:
    """Tune the matmul template with the XGBoost tuner, then build with the best record."""
    from tex import tune
    from tex.ops.x86 import templates

    print(f"\n== Tuning the matmul template for {n}x{n}x{n} with XGBTuner ({trials} trials, log {log})")
    task = tune.create_task("matmul", (n, n, n, "float32"), target="llvm")
    print(task.config_space)
    mo = tune.measure_option(tune.LocalBuilder(), tune.LocalRunner(number=5, repeat=3))
    try:
        tuner = tune.XGBTuner(task, seed=0)
        tuner.tune(trials, mo, callbacks=[tune.callback.log_to_file(log), tune.callback.progress_bar(trials)])
    finally:
        mo.close()
    print(f"best config: {tuner.best_config}  ({tuner.errors} of {tuner.trials} trials failed)")

    with tune.apply_history_best(log):
        s, args = templates.matmul(n, n, n, "float32")
    f = tex.build(s, args, name="gemm_tuned")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-3, atol=1e-2)
    fd = tex.build(*task.instantiate(task.config_space.default()), name="gemm_default")
    # all three timed the same way, here: the default config measured first in a just-started worker
    # would pay for the cold start
    default = _median_s(lambda: fd(a, b, c))
    tuned = _median_s(lambda: f(a, b, c))
    ref = _median_s(lambda: np.matmul(a, b, out=c))
    flop = 2 * n**3
    print(f"{'kernel':22} {'GFLOP/s':>9} {'vs numpy':>9}")
    print(f"{'default config':22} {flop / default / 1e9:9.1f} {ref / default:8.2f}x")
    print(f"{'tuned (best record)':22} {flop / tuned / 1e9:9.1f} {ref / tuned:8.2f}x")
    print(f"{'numpy (OpenBLAS)':22} {flop / ref / 1e9:9.1f} {1:8.2f}x")


def model(name: str) -> None:
    """Compile one of the onnx package's light models and run it next to onnxruntime."""
    import os

    from tex.onnx_import import light_model_path

    path = light_model_path(name)
    print(f"\n== ONNX model light_{name}.onnx (from the onnx package): import, optimise, compile, run")
    exe = tex.compile(path)
    print(exe.summary())  # kernels, steps, memory planned, compile time
    inp = exe.plan.inputs[0]
    feeds = {inp.name: np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)}
    out = exe.run(feeds)[exe.output_names[0]]
    t_tex = _median_s(lambda: exe.run(feeds), min_time_s=1.0)
    try:
        import onnxruntime as ort
    except ImportError:
        print(f"tex: {t_tex * 1e3:.2f} ms per run (onnxruntime is not installed: no comparison)")
        return
    so = ort.SessionOptions()
    so.intra_op_num_threads = os.cpu_count() or 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    err = float(np.abs(out - sess.run(None, feeds)[0]).max())
    t_ort = _median_s(lambda: sess.run(None, feeds), min_time_s=1.0)
    print(f"{'runtime':22} {'ms':>9} {'vs onnxruntime':>15}")
    print(f"{'tex (untuned)':22} {t_tex * 1e3:9.2f} {t_tex / t_ort:14.2f}x")
    print(f"{'onnxruntime':22} {t_ort * 1e3:9.2f} {1:14.2f}x")
    print(f"max abs difference of the outputs: {err:.2g}; `tex tune {os.path.basename(path)}` tunes its kernels")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tex.demo", description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=512, help="GEMM size (default 512)")
    p.add_argument("--trials", type=int, default=40, help="tuning trials (default 40; 0 skips tuning)")
    p.add_argument("--log", default=None, help="tuning log (default: a temporary file)")
    p.add_argument("--model", default="resnet50",
                   help="light ONNX model to compile and run next to onnxruntime (default resnet50; 'none' skips)")
    opts = p.parse_args(argv)
    gemm(opts.size)
    if opts.trials > 0:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            tuning(opts.size, opts.trials, opts.log or f"{tmp}/matmul.jsonl")
    if opts.model != "none":
        model(opts.model)


if __name__ == "__main__":
    main()
