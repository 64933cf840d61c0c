"""Optional competitor benchmark: tune one task with Apache TVM's MetaSchedule on this host and time the result.

This is NOT part of tex and tex never imports TVM: nothing in tests/ or .ci depends on this file (.ci only
lints it; it imports TVM inside functions, so ruff needs no TVM). It runs under its own interpreter, a
separate venv that holds TVM (never tex's .venv). It exists to measure, on the machine at hand, the
figures issue 3 compares tex's tuner with ("TVM MetaSchedule ... after 64 trials"),
because those were taken on another machine.

Create the TVM venv once (Apache TVM 0.27, ~1 GB):

    python3 -m venv /tmp/tvmenv
    /tmp/tvmenv/bin/pip install apache-tvm numpy psutil xgboost cloudpickle 'apache-tvm-ffi==0.1.14.post1'

The last four are not optional. MetaSchedule imports psutil and, for its XGB cost model, xgboost (the
wheel's extras "meta-schedule" and "popen-pool", with cloudpickle), which plain apache-tvm does not install.
apache-tvm 0.27.0.post1 asks for apache-tvm-ffi>=0.1.14.post0 and pip takes the newest, but with
0.1.15.post2 every tvm.ir.save_json segfaults (in tvm::ffi::ToJSONGraph), and so does MetaSchedule's JSON
database on its first commit; 0.1.14.post1 works. main() refuses to start on 0.1.15+ rather than crash.

Run (from the repository root):

    /tmp/tvmenv/bin/python benchmarks/tvm_metaschedule.py --task gemm1024 --trials 64 --out /tmp/tvm_gemm1024.json
    /tmp/tvmenv/bin/python benchmarks/tvm_metaschedule.py --task conv256 --trials 64 --out /tmp/tvm_conv256.json

Tasks: gemm1024 is C = A @ B with A, B, C 1024 x 1024 float32 (2 * 1024^3 FLOP); conv256 is ResNet-50's 3x3
conv at 14 x 14: batch 1, 256 -> 256 channels, padding 1, stride 1, NCHW float32, no bias (2 * 256 * 14 * 14
* 256 * 9 FLOP). The compute is plain TE (topi.nn.conv2d_nchw for the conv), tuned with
tvm.s_tir.meta_schedule.tune_tir and its defaults (local builder and runner, XGB cost model, evolutionary
search, 64 candidates per round, capped at --trials), except that the builder's timeout is 120 s, not 30:
on this shared 2-core host under load, every build of an 8-trial conv run timed out at 30 s (a build
worker is a fresh process that imports TVM, and the builder restarts its pool every round). --seed does
not make runs repeatable: two 8-trial GEMM runs with seed 0 measured different schedules.

The target is "llvm -mcpu=<host> -num-cores 2" (the host CPU as LLVM names it unless --mcpu is given;
--cores changes the 2), passed to TVM as the JSON dict it requires. The best record is built with
tvm.compile and checked against numpy: the output is filled with NaN first, and the max abs error must
be <= 1e-4 * max |reference| + 1e-4. It is then timed with time_evaluator: --repeat runs of at least
--min-ms ms each; the median is reported.

The JSON written to --out (for a tex-side script to read) holds: task, trials (asked), records (measured,
errors included), tuning_s (wall time of tune_tir, start-up and builds included), trials_per_s, best_s and
median_s (seconds per call: fastest and median of the final timing runs), gflops (median), best_gflops,
tuned_gflops (what MetaSchedule's own runner measured for the chosen record), max_abs_err, target, the LLVM
host CPU and whether it has AVX-512, tvm and numpy versions, the load average before tuning and timing,
and a timestamp. MetaSchedule's work dir is a fresh directory under /tmp (removed afterwards unless
--keep-work-dir). `--trials 0 --work-dir DIR` only builds, checks and times the best record of a kept work
dir (for re-timing on a quieter machine; tuning_s is then 0).

Run it on a quiet machine: the tuning and the final timing use every core they are given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

TASKS = ("gemm1024", "conv256")


def make_task(task: str):
    """(prim_func, flop, input shapes, numpy reference function) for a task name."""
    from tvm import te, topi

    if task == "gemm1024":
        n = 1024
        a = te.placeholder((n, n), name="A", dtype="float32")
        b = te.placeholder((n, n), name="B", dtype="float32")
        k = te.reduce_axis((0, n), name="k")
        c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
        func = te.create_prim_func([a, b, c])
        flop = 2.0 * n ** 3

        def reference(x, y):
            return x @ y

        return func, flop, [(n, n), (n, n)], (n, n), reference
    if task == "conv256":
        n, c, h, w, co, kh, kw = 1, 256, 14, 14, 256, 3, 3
        x = te.placeholder((n, c, h, w), name="X", dtype="float32")
        wt = te.placeholder((co, c, kh, kw), name="W", dtype="float32")
        y = topi.nn.conv2d_nchw(x, wt, stride=1, padding=1, dilation=1, out_dtype="float32")
        func = te.create_prim_func([x, wt, y])
        flop = 2.0 * n * co * h * w * c * kh * kw

        def reference(xv, wv):
            import numpy as np

            xp = np.pad(xv, ((0, 0), (0, 0), (1, 1), (1, 1)))
            out = np.zeros((n, co, h, w), dtype=np.float64)
            for r in range(kh):
                for s in range(kw):
                    patch = xp[:, :, r:r + h, s:s + w].astype(np.float64)
                    out += np.einsum("nchw,oc->nohw", patch, wv[:, :, r, s].astype(np.float64))
            return out.astype(np.float32)

        return func, flop, [(n, c, h, w), (co, c, kh, kw)], (n, co, h, w), reference
    raise ValueError(f"unknown task {task!r}; choose one of {TASKS}")


def host_cpu() -> tuple[str, bool]:
    """LLVM's name for the host CPU and whether LLVM enables AVX-512 on it."""
    import tvm

    cpu = tvm.target.codegen.llvm_get_system_cpu()
    has512 = False
    try:
        t = tvm.target.Target({"kind": "llvm", "mcpu": cpu})
        has512 = bool(tvm.target.codegen.llvm_cpu_has_features("avx512f", t))
    except Exception:  # the API differs between TVM versions: fall back to /proc/cpuinfo
        try:
            with open("/proc/cpuinfo") as f:
                has512 = " avx512f " in f.read()
        except OSError:
            pass
    return str(cpu), has512


def loadavg() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", choices=TASKS, default="gemm1024")
    p.add_argument("--trials", type=int, default=64, help="MetaSchedule max_trials_global (default 64)")
    p.add_argument("--out", help="write the JSON result here")
    p.add_argument("--mcpu", help="LLVM CPU name (default: the host's, as LLVM detects it)")
    p.add_argument("--cores", type=int, default=2, help="-num-cores of the target and TVM_NUM_THREADS (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=15, help="final timing runs (default 15)")
    p.add_argument("--min-ms", type=int, default=200, help="minimum duration of one final timing run (default 200 ms)")
    p.add_argument("--build-timeout", type=float, default=120.0,
                   help="seconds per build in MetaSchedule's LocalBuilder (default 120; TVM's own default is 30)")
    p.add_argument("--run-timeout", type=float, default=30.0,
                   help="seconds per measurement in MetaSchedule's LocalRunner (default 30, TVM's default)")
    p.add_argument("--work-dir", help="MetaSchedule work dir (default: a fresh one under /tmp)")
    p.add_argument("--keep-work-dir", action="store_true")
    args = p.parse_args(argv)

    # The runtime's thread pool reads this when it starts; set it before TVM is imported.
    os.environ.setdefault("TVM_NUM_THREADS", str(args.cores))

    import numpy as np
    import tvm

    # Registers the tensor intrinsics a tuned schedule may name, as MetaSchedule's builder does.
    import tvm.s_tir.tensor_intrin
    import tvm_ffi
    from tvm.s_tir import meta_schedule as ms

    ffi_version = getattr(tvm_ffi, "__version__", "?")
    if tvm.__version__.startswith("0.27") and ffi_version.startswith("0.1.15"):
        print(f"apache-tvm-ffi {ffi_version} segfaults with TVM {tvm.__version__} (tvm.ir.save_json, which "
              "MetaSchedule's database uses); install apache-tvm-ffi==0.1.14.post1", file=sys.stderr)
        return 3

    cpu, has512 = host_cpu()
    mcpu = args.mcpu or cpu
    # TVM 0.27 refuses the CLI form "llvm -mcpu=... -num-cores N": a target is a JSON dict.
    target_str = f"llvm -mcpu={mcpu} -num-cores {args.cores}"
    target = tvm.target.Target({"kind": "llvm", "mcpu": mcpu, "num-cores": args.cores})
    func, flop, in_shapes, out_shape, reference = make_task(args.task)
    print(f"tvm {tvm.__version__}, task {args.task}, target {target_str!r} (host cpu {cpu}, "
          f"avx512 {'yes' if has512 else 'no'}), {args.trials} trials", flush=True)

    load_tune = loadavg()
    if args.trials == 0:
        # Only time the best record of an earlier run's work dir (--keep-work-dir), e.g. on a quieter machine.
        if not args.work_dir:
            p.error("--trials 0 needs --work-dir (a kept work dir of an earlier run)")
        work_dir = args.work_dir
        database = ms.database.JSONDatabase(work_dir=work_dir, allow_missing=False)
        tuning_s = 0.0
    else:
        work_dir = args.work_dir or tempfile.mkdtemp(prefix=f"tvm_ms_{args.task}_", dir="/tmp")
        t0 = time.perf_counter()
        database = ms.tir_integration.tune_tir(
            mod=func,
            target=target,
            work_dir=work_dir,
            max_trials_global=args.trials,
            num_trials_per_iter=min(64, args.trials),
            builder=ms.builder.LocalBuilder(max_workers=args.cores, timeout_sec=args.build_timeout),
            runner=ms.runner.LocalRunner(timeout_sec=args.run_timeout),
            num_tuning_cores=args.cores,
            seed=args.seed,
        )
        tuning_s = time.perf_counter() - t0
    n_records = len(database.get_all_tuning_records())
    if tuning_s:
        print(f"tuning: {n_records} records in {tuning_s:.1f} s ({n_records / tuning_s:.3f} trials/s)", flush=True)
    else:
        print(f"timing the best of {n_records} records in {work_dir}", flush=True)

    sch = ms.tir_integration.compile_tir(database, func, target)
    if sch is None:
        print(f"MetaSchedule found no valid schedule (every record failed; its logs: {work_dir}/logs)",
              file=sys.stderr)
        return 1
    mod = sch.mod
    # What MetaSchedule's runner measured for the record it picked.
    tuned_gflops = None
    rec = database.query_tuning_record(_normalize(func), target, "main")
    if rec is not None and rec.run_secs:
        secs = [float(s) for s in rec.run_secs]
        tuned_gflops = flop / statistics.median(secs) / 1e9

    lib = tvm.compile(mod, target=target)
    dev = tvm.cpu(0)
    rng = np.random.default_rng(args.seed)
    inputs = [rng.uniform(-1, 1, s).astype(np.float32) for s in in_shapes]
    out = np.full(out_shape, np.nan, dtype=np.float32)
    targs = [tvm.runtime.tensor(x, dev) for x in inputs] + [tvm.runtime.tensor(out, dev)]
    lib["main"](*targs)
    got = targs[-1].numpy()
    want = reference(*inputs)
    scale = float(np.max(np.abs(want))) or 1.0
    max_abs_err = float(np.max(np.abs(got - want)))
    ok = bool(np.all(np.isfinite(got))) and max_abs_err <= 1e-4 * scale + 1e-4
    print(f"check against numpy: max abs err {max_abs_err:.3g} (output scale {scale:.3g}) "
          f"{'ok' if ok else 'WRONG'}", flush=True)

    load_time = loadavg()
    # One call to size `number` so that a run lasts at least --min-ms.
    ev = lib.mod.time_evaluator("main", dev, number=1, repeat=3)
    one = min(ev(*targs).results)
    number = max(1, int(np.ceil(args.min_ms / 1e3 / max(one, 1e-9))))
    ev = lib.mod.time_evaluator("main", dev, number=number, repeat=args.repeat)
    times = [float(t) for t in ev(*targs).results]
    median_s = statistics.median(times)
    best_s = min(times)
    gflops = flop / median_s / 1e9
    print(f"final: median {median_s * 1e3:.3f} ms = {gflops:.1f} GFLOP/s (best {best_s * 1e3:.3f} ms = "
          f"{flop / best_s / 1e9:.1f}; {args.repeat} runs x {number} calls); MetaSchedule measured "
          + (f"{tuned_gflops:.1f} GFLOP/s" if tuned_gflops else "n/a"), flush=True)

    result = {
        "task": args.task,
        "trials": args.trials,
        "records": n_records,
        "tuning_s": round(tuning_s, 2),
        "trials_per_s": round(n_records / tuning_s, 4) if tuning_s else None,
        "gflops": round(gflops, 2),
        "best_gflops": round(flop / best_s / 1e9, 2),
        "median_s": median_s,
        "best_s": best_s,
        "tuned_gflops": round(tuned_gflops, 2) if tuned_gflops else None,
        "correct": ok,
        "max_abs_err": max_abs_err,
        "target": target_str,
        "target_json": str(target),
        "llvm": tvm.target.codegen.llvm_version_major(allow_none=True),
        "host_cpu": cpu,
        "avx512": has512,
        "cores": args.cores,
        "build_timeout_s": args.build_timeout,
        "seed": args.seed,
        "tvm": tvm.__version__,
        "tvm_ffi": ffi_version,
        "numpy": np.__version__,
        "loadavg_before_tuning": load_tune,
        "loadavg_before_timing": load_time,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"wrote {args.out}")
    if not args.work_dir and not args.keep_work_dir and args.trials:
        shutil.rmtree(work_dir, ignore_errors=True)
    elif args.keep_work_dir:
        print(f"work dir kept: {work_dir}")
    return 0 if ok else 2


def _normalize(func):
    from tvm.s_tir.meta_schedule.tune_context import _normalize_mod

    return _normalize_mod(func)


if __name__ == "__main__":
    sys.exit(main())
