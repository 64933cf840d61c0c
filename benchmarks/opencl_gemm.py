"""GEMM float32 on the OpenCL device (PoCL in CI): tex's kernels against hand-written OpenCL C and numpy, interleaved.

    python benchmarks/opencl_gemm.py [--size 1024] [--rounds 5] [--device N] [--trials 0] [--log mm_cl.jsonl]

Contenders, all on the same inputs and checked against numpy before timing:
  naive   one output element per work-item, 16 x 16 work-groups (the GPU default schedule)
  tiled   each work-item computes a ty x tx block in private memory (cache_write "local"), k unrolled by 4,
          the tx columns unrolled; work-groups of 8 x 8
  tuned   with --trials N: the "matmul_opencl" template (tex/ops/opencl/matmul.py) tuned by XGBTuner for N trials
          (runner number=2, repeat=2; at the end the tuner re-measures its top 3 configs and the template's
          default in 3 interleaved rounds and keeps the lowest median): the tuner's choice; with --trials 0 and
          an existing --log, apply_history_best's. Whether it is the template default is printed.
  search  when the tuned config is the template default: the best other config the search measured (from the
          tuner, or with --trials 0 the fastest non-default record of the log), so that a kernel found by the
          search is always timed
  default the template's default config (ty=8, tx=16, vec=16: the hand kernel's structure, in tex's schedule)
  hand    the reference of issue 4, written here in OpenCL C: explicit float16 vectors, an 8 x 16 block of C per
          work-item (8 float16 accumulators, per k a vload16 of B and 8 fma with a broadcast of A), k unrolled
          by 4, work-groups of 16 x 2 (PoCL compiles `mad` on float16 to slower code than `fma`: 45 vs 74
          GFLOP/s kernel time here, so the reference uses `fma`)
  hand8   the same with float8 vectors and an 8 x 8 block (AVX2 registers hold 8 floats)
  numpy   np.matmul(a, b, out=c) on the host (OpenBLAS)
OpenCL times are wall-clock per call including the host<->device copies (the same API the user calls; the
hand kernels copy the same way); `kernel ms` is the kernel alone from OpenCL profiling events, the median of
`--rounds` interleaved rounds too. Issue 4's goal, measured by its author on an AVX-512 machine (hand 118
GFLOP/s, goal 90), is restated for another host as a ratio: a config found by the tuner's search (not the
template default) >= 0.75x hand, in the same run; the last lines say which row meets it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex
import tex.ops.opencl.matmul  # registers the matmul_opencl template
from tex import tune
from tex.driver import build


def gemm(n: int) -> tuple[tex.Tensor, tex.Tensor, tex.Tensor]:
    A = tex.placeholder((n, n), name="A")
    B = tex.placeholder((n, n), name="B")
    k = tex.reduce_axis((0, n), name="k")
    return A, B, tex.compute((n, n), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")


def build_naive(n: int, target: str) -> object:
    A, B, C = gemm(n)
    s = tex.create_schedule(C)
    bi, bj, ti, tj = s[C].tile(*s[C].op.axis, 16, 16)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(ax, tex.thread_axis(tag))
    return tex.build(s, [A, B, C], target=target, name="gemm_naive")


def build_tiled(n: int, target: str, ty: int = 4, tx: int = 16, group: int = 8) -> object:
    A, B, C = gemm(n)
    s = tex.create_schedule(C)
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, ty, tx)
    bi, ti = s[C].split(io, group)
    bj, tj = s[C].split(jo, group)
    s[C].reorder(bi, bj, ti, tj, ii, ji)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(ax, tex.thread_axis(tag))
    s[CL].compute_at(s[C], tj)
    ci, cj = s[CL].op.axis
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], 4)
    s[CL].reorder(ko, ki, ci, cj)
    s[CL].unroll(ki)
    s[CL].unroll(ci)
    s[CL].unroll(cj)
    s[C].unroll(ji)
    return tex.build(s, [A, B, C], target=target, name="gemm_tiled")


HAND_SOURCE = """
__kernel __attribute__((reqd_work_group_size({gx}, {gy}, 1)))
void gemm_hand(__global const float* restrict A, __global const float* restrict B, __global float* restrict C) {{
  const int j0 = get_global_id(0) * {vec};  /* this work-item's {rows} x {vec} block of C */
  const int i0 = get_global_id(1) * {rows};
{acc}
  __global const float* a = A + i0 * {n};
  #pragma unroll 4
  for (int k = 0; k < {n}; ++k, ++a) {{
    const float{vec} b = vload{vec}(0, B + k * {n} + j0);
{fma}
  }}
{store}
}}
"""


class HandKernel:
    """A hand-written n x n x n GEMM (HAND_SOURCE) on tex's OpenCL context; called like a tex module."""

    def __init__(self, ctx: object, n: int, rows: int, vec: int, group: tuple[int, int] = (16, 2)):
        import pyopencl as cl

        if n % (rows * group[1]) or n % (vec * group[0]):
            raise SystemExit(f"--size {n}: the hand kernel needs a multiple of {rows * group[1]} and "
                             f"{vec * group[0]}")
        src = HAND_SOURCE.format(
            n=n, rows=rows, vec=vec, gx=group[0], gy=group[1],
            acc="\n".join(f"  float{vec} c{r} = (float{vec})(0.0f);" for r in range(rows)),
            fma="\n".join(f"    c{r} = fma((float{vec})(a[{r * n}]), b, c{r});" for r in range(rows)),
            store="\n".join(f"  vstore{vec}(c{r}, 0, C + (i0 + {r}) * {n} + j0);" for r in range(rows)))
        self.cl, self.ctx, self.source = cl, ctx, src
        self.kernel = ctx.program(src, f"hand {rows}x{vec}").gemm_hand  # type: ignore[attr-defined]
        self.global_size, self.local_size = (n // vec, n // rows), group
        nbytes = n * n * 4
        self.bufs = [cl.Buffer(ctx.context, cl.mem_flags.READ_WRITE, nbytes) for _ in range(3)]  # type: ignore

    def _launch(self) -> object:
        return self.kernel(self.ctx.queue, self.global_size, self.local_size, *self.bufs)  # type: ignore

    def __call__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        q = self.ctx.queue  # type: ignore[attr-defined]
        self.cl.enqueue_copy(q, self.bufs[0], a, is_blocking=False)
        self.cl.enqueue_copy(q, self.bufs[1], b, is_blocking=False)
        self._launch()
        self.cl.enqueue_copy(q, c, self.bufs[2], is_blocking=False)
        q.finish()

    def kernel_s(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
        """Seconds of one launch from its profiling event (the inputs copied first, as time_evaluator does)."""
        self(a, b, c)
        e = self._launch()
        e.wait()  # type: ignore[attr-defined]
        return (e.profile.end - e.profile.start) * 1e-9  # type: ignore[attr-defined]


def kernel_times(kernels: dict[str, object], a: np.ndarray, b: np.ndarray, outs: dict[str, np.ndarray],
                 rounds: int) -> dict[str, float]:
    """Median kernel-only seconds per contender over `rounds` interleaved rounds."""
    samples: dict[str, list[float]] = {name: [] for name in kernels}
    for _ in range(rounds):
        for name, f in kernels.items():
            if isinstance(f, HandKernel):
                samples[name].append(f.kernel_s(a, b, outs[name]))
            else:
                samples[name].append(f.time_evaluator(number=1, repeat=1)(a, b, outs[name]).median)  # type: ignore
    return {name: float(np.median(v)) for name, v in samples.items()}


def search_results(task: tune.Task, log: str, tuner: object | None) -> tuple[object | None, object | None, float]:
    """(the tuner's choice, the best config the search measured other than the default, its search seconds).

    With a tuner: its `best_config` (after the interleaved re-measurement, which includes the template default)
    and, from its search alone, `search_best_config`. With only a log (--trials 0): `apply_history_best`'s
    choice and the fastest non-default record of this task on this device."""
    space = task.config_space
    default = space.default()
    if tuner is not None:
        chosen, found, cost = tuner.best_config, tuner.search_best_config, tuner.search_best_cost  # type: ignore
        if found is not None and found.index == default.index:  # the search's best is the default: the runner-up
            found, cost = None, float("inf")
    else:
        with tune.apply_history_best(log, target=str(task.target)) as history:
            chosen, _ = history.query(task.template, task.args)
        found, cost = None, float("inf")
    if found is None and os.path.exists(log):
        fp = task.target.fingerprint()
        for r in tune.load_records(log):
            if r.ok and r.task == task.name and r.args == task.args and r.fingerprint == fp:
                cfg = space.from_json(r.config)
                if cfg.index != default.index and r.cost < cost:
                    found, cost = cfg, r.cost
    return chosen or default, found, cost


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--device", default=None, help="OpenCL device index or a word of its name (see `tex targets`)")
    p.add_argument("--trials", type=int, default=0, help="tune the matmul_opencl template for this many trials")
    p.add_argument("--log", default="opencl_gemm.jsonl", help="tuning log (appended)")
    opts = p.parse_args()
    n = opts.size
    target = "opencl" if opts.device is None else f"opencl -device={opts.device}"
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ref = a @ b
    kernels = {"naive": build_naive(n, target), "tiled": build_tiled(n, target)}
    task = tune.create_task("matmul_opencl", (n, n, n, "float32"), target=target)
    default = task.config_space.default()
    s, args = task.instantiate(default)  # float16 accumulators, 8x16 per work-item: the hand kernel's structure
    kernels["default"] = build(s, args, target=target, name="gemm_default")
    notes = []
    tuner = None
    if opts.trials:
        mo = tune.measure_option(builder=tune.LocalBuilder(), runner=tune.LocalRunner(number=2, repeat=2))
        tuner = tune.XGBTuner(task, seed=0)
        t0 = time.monotonic()
        try:
            tuner.tune(opts.trials, mo, callbacks=[tune.callback.log_to_file(opts.log)])
        finally:
            mo.close()
        notes.append(f"tuning: {tuner.trials} trials, {tuner.errors} errors, {time.monotonic() - t0:.0f} s, "
                     f"log {opts.log}; the search's best {tuner.search_best_config} at "
                     f"{task.flop / tuner.search_best_cost / 1e9:.1f} GFLOP/s (kernel); after re-measuring the top 3 "
                     f"and the default interleaved, the tuner chose {tuner.best_config} at "
                     f"{tuner.best_gflops:.1f} GFLOP/s")
    found_by_search = None
    if opts.trials or os.path.exists(opts.log):  # --trials 0 with an earlier log: time its best config
        chosen, found, cost = search_results(task, opts.log, tuner)
        is_default = chosen.index == default.index
        kernels["tuned"] = build(*task.instantiate(chosen), target=target, name="gemm_tuned")
        searched = tuner is None or chosen.index in tuner.visited  # a log alone does not say: its records count
        where = "" if tuner is None else "; measured in the search: " + (
            "yes" if searched else "no (only in the final re-measurement)")
        notes.append(f"tuned = {'the tuner' if tuner else f'apply_history_best({opts.log})'}'s choice: {chosen}; "
                     f"the template default: {'yes' if is_default else 'no'}{where}")
        found_by_search = "tuned" if not is_default and searched else None
        if found is not None and found.index != chosen.index:
            kernels["search"] = build(*task.instantiate(found), target=target, name="gemm_search")
            notes.append(f"search = the best config the search found other than the default: {found} "
                         f"({task.flop / cost / 1e9:.1f} GFLOP/s in the search; the template default: no)")
            found_by_search = found_by_search or "search"
    ctx = kernels["naive"].ctx  # type: ignore[attr-defined]
    kernels["hand"] = HandKernel(ctx, n, 8, 16)
    kernels["hand8"] = HandKernel(ctx, n, 8, 8)
    outs = {name: np.empty((n, n), np.float32) for name in [*kernels, "numpy"]}
    for name, f in kernels.items():
        outs[name].fill(np.nan)
        f(a, b, outs[name])  # type: ignore[operator]
        np.testing.assert_allclose(outs[name], ref, rtol=1e-3, atol=1e-3 * np.sqrt(n), err_msg=name)
    timed = {k: f for k, f in kernels.items() if k != "naive" or n <= 512}  # naive: seconds per launch at 1024
    kernel_ms = {name: t * 1e3 for name, t in kernel_times(timed, a, b, outs, opts.rounds).items()}
    if "naive" not in timed:
        kernel_ms["naive"] = kernels["naive"].time_evaluator(number=1, repeat=1)(a, b, outs["naive"]).median * 1e3

    contenders = {name: (lambda f=f, c=outs[name]: f(a, b, c)) for name, f in kernels.items()}  # type: ignore
    contenders["numpy"] = lambda: np.matmul(a, b, out=outs["numpy"])
    t = harness.interleave(contenders, opts.rounds, 1)
    flop = 2.0 * n**3
    gflops = {k: flop / v.median / 1e9 for k, v in t.items()}
    kflops = {k: flop / v / 1e6 for k, v in kernel_ms.items()}
    dev = next(iter(kernels.values())).ctx.name  # type: ignore[attr-defined]
    rows = [[k, f"{v.median * 1e3:.2f}", f"{kernel_ms[k]:.2f}" if k in kernel_ms else "-", f"{gflops[k]:.1f}",
             f"{kflops[k]:.1f}" if k in kflops else "-", f"{gflops[k] / gflops['numpy']:.2f}x",
             f"{gflops[k] / gflops['hand']:.2f}x"] for k, v in t.items()]
    print(f"GEMM {n}x{n}x{n} float32 on OpenCL device '{dev}', median of {opts.rounds} interleaved rounds; "
          f"{harness.machine()}")
    print(harness.table(rows, ["kernel", "ms", "kernel ms", "GFLOP/s", "kernel GFLOP/s", "vs numpy", "vs hand"]))
    print(f"tiled / naive   {gflops['tiled'] / gflops['naive']:.1f}x")
    print(f"hand8 / hand    {gflops['hand8'] / gflops['hand']:.2f}x   (kernel alone: "
          f"{kflops['hand8'] / kflops['hand']:.2f}x)")
    for k in ("default", "tuned", "search"):
        if k in gflops:
            print(f"{k:<7} / hand  {gflops[k] / gflops['hand']:.2f}x   "
                  f"(kernel alone: {kflops[k] / kflops['hand']:.2f}x)")
    if "tuned" in gflops:
        goal = found_by_search and gflops[found_by_search] >= 0.75 * gflops["hand"]
        print(f"goal (issue 4, restated for this host): a config found by the tuner's search, not the template "
              f"default, at >= 0.75x hand: {'met by ' + found_by_search if goal else 'not met'}"
              f"{'' if found_by_search else ' (the search found no config other than the default)'}")
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
