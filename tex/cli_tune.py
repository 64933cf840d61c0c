"""`tex tune`: tune one template from a Python file (or the kernels of an ONNX model) into a log;
`tex tune --show LOG` prints the best config of every task in a log."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import re
import sys
import time
from pathlib import Path
from typing import Any

from tex.errors import TuneError


def parse_budget(text: str) -> float:
    """'90s', '10m', '1.5h' or plain seconds -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"must be a duration like 90s, 10m or 1h, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def parse_args_text(text: str | None) -> tuple[Any, ...]:
    """'1024,1024,1024,float32' -> (1024, 1024, 1024, 'float32'); a JSON list is taken as is (nested shapes)."""
    if text is None or not text.strip():
        return ()
    if text.lstrip().startswith("["):
        try:
            return tuple(_tuplify(json.loads(text)))
        except json.JSONDecodeError as e:
            raise TuneError(f"--args: not valid JSON ({e.msg}): {text}") from None
    out: list[Any] = []
    for item in text.split(","):
        item = item.strip()
        for conv in (int, float):
            try:
                out.append(conv(item))
                break
            except ValueError:
                continue
        else:
            out.append({"true": True, "false": False, "none": None}.get(item.lower(), item))
    return tuple(out)


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(v) for v in x) if isinstance(x, list) else x


def load_template_file(path: str) -> None:
    """Import a Python file so that its @tune.template functions are registered."""
    p = Path(path)
    if not p.is_file():
        raise TuneError(f"{path}: no such file")
    name = "tex_tune_user_" + hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:10]
    spec = importlib.util.spec_from_file_location(name, p.resolve())
    if spec is None or spec.loader is None:
        raise TuneError(f"{path}: cannot be imported as Python")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)


def make_tuner(kind: str, task: Any, seed: int | None) -> Any:
    from tex import tune

    if kind == "xgb":
        return tune.XGBTuner(task, seed=seed)
    if kind == "ga":
        return tune.GATuner(task, seed=seed)
    if kind == "random":
        return tune.RandomTuner(task, seed=seed)
    return tune.GridSearchTuner(task, seed=seed)


def split_budget(total: int, shares: list[float], floor: int = 1) -> list[int]:
    """`total` trials split in proportion to `shares` (largest remainders), each task at least `floor`."""
    if not shares:
        return []
    weight = sum(shares)
    frac = [s / weight if weight > 0 else 1 / len(shares) for s in shares]
    spare = max(0, total - floor * len(shares))
    raw = [f * spare for f in frac]
    out = [floor + int(r) for r in raw]
    for k in sorted(range(len(raw)), key=lambda k: -(raw[k] - int(raw[k])))[:spare - sum(int(r) for r in raw)]:
        out[k] += 1
    return out


def tune_tasks(tasks: list[Any], opts: argparse.Namespace, counts: list[int] | None = None) -> list[dict[str, Any]]:
    """Tune each task in turn into opts.log; returns one summary row per task.

    With `counts` (how often a model runs each task) the tasks share `opts.trials` (and `opts.budget`) in
    proportion to their share of the model's run time, estimated as count x the default config's time; the
    XGB tuner of each task starts from the records of the tasks tuned before it (transfer learning).
    """
    from tex import tune

    # a model's kernels are timed with their weights evicted from the caches (as the model runs them) unless
    # told otherwise; a single template hot, as it is benchmarked on its own
    flush = opts.cache_flush if getattr(opts, "cache_flush", None) is not None else counts is not None
    cpu = bool(tasks) and tasks[0].target.kind == "llvm"
    runner = tune.LocalRunner(number=opts.number, repeat=opts.repeat, min_repeat_ms=opts.min_repeat_ms,
                              cache_flush=flush and cpu)
    mo = tune.measure_option(tune.LocalBuilder(n_parallel=opts.parallel), runner)
    rows = []
    try:
        defaults = []
        for task in tasks:
            inp = tune.MeasureInput(task, task.config_space.default())
            res = mo.measure([inp])[0]
            tune.append_records(opts.log, [tune.record.make_record(inp, res)])
            defaults.append(res)
        if counts is None:
            trials = [opts.trials] * len(tasks)
            budgets = [opts.budget / len(tasks) if opts.budget else None] * len(tasks)
        else:
            share = [c * (d.cost if d.ok else 0.0) for c, d in zip(counts, defaults)]
            trials = split_budget(opts.trials, share, floor=min(8, max(1, opts.trials // len(tasks))))
            total = sum(share) or 1.0
            budgets = [opts.budget * s / total if opts.budget else None for s in share]
            for task, c, sh, n in zip(tasks, counts, share, trials):
                print(f"{task.name}{list(task.args)}: x{c}, {100 * sh / total:.1f}% of the model's kernel time "
                      f"(default config) -> {n} trials", file=sys.stderr)
        for n, (task, default) in enumerate(zip(tasks, defaults), 1):
            prefix = f"[{n}/{len(tasks)} {task.name}] " if len(tasks) > 1 else f"[{task.name}] "
            tuner = make_tuner(opts.tuner, task, opts.seed)
            if counts is not None and n > 1 and hasattr(tuner, "load_history"):
                others = [r for r in tune.load_records(opts.log) if r.args != task.args or r.task != task.name]
                tuner.load_history(others)
            tuner.visited.add(task.config_space.default().index)
            t0 = time.monotonic()
            tuner.tune(trials[n - 1], mo, early_stopping=opts.early_stopping, budget_s=budgets[n - 1],
                       resume=opts.log, callbacks=[tune.callback.log_to_file(opts.log),
                                                   tune.callback.progress_bar(trials[n - 1], prefix)])
            # the default as the final re-measurement timed it, interleaved with the choice; else its first
            # measurement, minutes earlier (on a shared host that can be another machine's figure); a failed
            # measurement costs inf
            dcost = tuner.final_costs.get(task.config_space.default().index, default.cost)
            rows.append({"task": task, "trials": tuner.trials, "errors": tuner.errors, "refused": tuner.refused,
                         "default": task.flop / dcost / 1e9 if math.isfinite(dcost) else 0.0,
                         "best": tuner.best_gflops, "config": tuner.best_config,
                         "seconds": time.monotonic() - t0, "interrupted": tuner.interrupted})
            if tuner.interrupted:
                break
    finally:
        mo.close()
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    head = ["task", "trials", "errors", "invalid", "default GFLOP/s", "best GFLOP/s", "speedup", "time", "best config"]
    body = []
    for r in rows:
        speed = f"{r['best'] / r['default']:.2f}x" if r["default"] > 0 else "-"
        body.append([f"{r['task'].name}{list(r['task'].args)}", str(r["trials"]), str(r["errors"]),
                     str(r["refused"]),
                     f"{r['default']:.1f}", f"{r['best']:.1f}", speed, f"{r['seconds']:.0f}s", str(r["config"])])
    return _table(head, body)


def _table(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(x[c]) for x in [head, *body]) for c in range(len(head))]
    line = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([line.format(*head), line.format(*["-" * w for w in widths]), *(line.format(*b) for b in body)])


def show(path: str) -> str:
    from tex.tune import load_records, pick_best

    recs = load_records(path)
    best = pick_best(recs)
    if not best:
        return f"{path}: {len(recs)} records, none successful"
    head = ["task", "args", "target", "device", "best ms", "config", "measured"]
    body = []
    for (task, args, _, _), r in sorted(best.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        n = sum(1 for x in recs if x.task == task and x.args == args)
        device = r.fingerprint.get("cpu") or r.fingerprint.get("device", "-")  # an OpenCL record names its device
        body.append([task, json.dumps(list(args)), r.target, str(device),
                     f"{r.cost * 1e3:.4f}" if math.isfinite(r.cost) else "-",
                     ", ".join(f"{k}={v}" for k, v in r.config.items()), str(n)])
    return f"{path}: {len(recs)} records, {len(best)} tasks\n" + _table(head, body)


def run(opts: argparse.Namespace) -> int:
    if opts.show:
        print(show(opts.show))
        return 0
    if not opts.workload or not opts.log:
        raise TuneError("give FILE.py:TEMPLATE (or MODEL.onnx) and --log FILE, or --show FILE")
    from tex import tune

    if opts.workload.endswith(".onnx"):
        from tex.onnx_import import extract_tasks

        if not Path(opts.workload).is_file():
            raise TuneError(f"{opts.workload}: no such file")
        model_tasks = extract_tasks(opts.workload, target=opts.target)
        if not model_tasks:
            raise TuneError(f"{opts.workload}: no tunable kernels (conv2d, depthwise conv2d, dense) in this model")
        tasks = [mt.create(opts.target) for mt in model_tasks]
        counts: list[int] | None = [mt.count for mt in model_tasks]
    else:
        file, sep, name = opts.workload.rpartition(":")
        if not sep or not file or not name:
            raise TuneError(f"expected FILE.py:TEMPLATE or MODEL.onnx, got {opts.workload!r}")
        load_template_file(file)
        tasks = [tune.create_task(name, parse_args_text(opts.args), opts.target)]
        counts = None
    for t in tasks:
        print(f"{t}: {len(t.config_space)} configs, {t.flop / 1e9:.3f} GFLOP per call", file=sys.stderr)
    rows = tune_tasks(tasks, opts, counts)
    print(summary_table(rows))
    if any(r["interrupted"] for r in rows):
        print(f"interrupted; {opts.log} holds every finished measurement", file=sys.stderr)
        return 130
    return 0
