"""Tuner core, finer points: FLOP counting, pick_best after re-measurement, resuming from a Path, the progress
bar on a small space, the space-version fallback, and a clean log and quiet workers when `tex tune` is
interrupted with Ctrl-C."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import tex
from tests.tune import templates
from tex import tune
from tex.tune.record import Record

TEMPLATES = Path(__file__).with_name("templates.py")


def test_count_flop_per_stage() -> None:
    A = tex.placeholder((4, 8), name="A")
    B = tex.placeholder((8, 3), name="B")
    k = tex.reduce_axis((0, 8), name="k")
    S = tex.compute((4,), lambda i: tex.sum(A[i, k], axis=k), name="S")
    assert tune.count_flop([S]) == 4 * 8  # one add per step
    M = tex.compute((4,), lambda i: S[i] / 8.0, name="M")
    assert tune.count_flop([M]) == 4 * 8 + 4  # producers are counted once, plus the divide
    E = tex.compute((4, 8), lambda i, j: tex.exp(A[i, j] * 2.0 + 1.0), name="E")
    assert tune.count_flop([E]) == 4 * 8 * 3
    k2 = tex.reduce_axis((0, 8), name="k2")
    C = tex.compute((4, 3), lambda i, j: tex.sum(A[i, k2] * B[k2, j], axis=k2), name="C")
    R = tex.compute((4, 3), lambda i, j: tex.max(C[i, j], tex.const(0, "float32")), name="R")
    assert tune.count_flop([R]) == 2 * 4 * 3 * 8 + 4 * 3  # a multiply-add counts 2, the relu 1


def _record(task: tune.Task, index: int, costs: tuple[float, ...], timestamp: float) -> Record:
    return Record(task.name, task.args, str(task.target), task.target.fingerprint(), task.config_space.version(),
                  task.config_space.get(index).to_json(), costs, "NO_ERROR", "", 0.1, timestamp)


def test_pick_best_trusts_the_re_measurement(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    log = tmp_path / "log.jsonl"
    tune.append_records(log, [
        _record(task, 3, (1.0e-3,) * 3, 1.0),  # a lucky first measurement ...
        _record(task, 5, (1.5e-3,) * 3, 2.0),
        _record(task, 3, (2.0e-3,) * 9, 3.0),  # ... that the final re-measurement with more repeats corrects
        _record(task, 5, (1.4e-3,) * 9, 4.0),
    ])
    (best,) = tune.pick_best(tune.load_records(log)).values()
    assert best.config == task.config_space.get(5).to_json() and best.cost == 1.4e-3
    with tune.apply_history_best(str(log)) as ctx:
        cfg, _ = ctx.query(task.template, task.args)
        assert cfg is not None and cfg.index == 5


def test_resume_takes_a_path_and_the_progress_bar_counts_down_to_the_space(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))  # 36 configs
    log = tmp_path / "log.jsonl"
    tune.append_records(log, [_record(task, i, (1e-3 * (i + 1),), 1.0) for i in range(30)])
    tuner = tune.GridSearchTuner(task)
    assert tuner.resume(log) == 30  # a pathlib.Path, not only a str
    stream = io.StringIO()
    bar = tune.callback.progress_bar(200, stream=stream)
    view = SimpleNamespace(started=time.monotonic(), trials=4, errors=1, refused=0, budget_s=None,
                           best_gflops=12.5, space=task.config_space, visited=set(range(34)))
    bar(view, [], [])  # type: ignore[arg-type]
    line = stream.getvalue()
    assert "4/6 trials, 1 errors, best 12.5 GFLOP/s" in line  # 4 done, 2 configs left unmeasured
    view.refused, view.visited = 2, set(range(36))  # two more, refused: no trial spent on them
    bar(view, [], [tune.MeasureResult((float("inf"),), tune.MeasureErrorKind.RUNTIME_ERROR)])  # type: ignore[arg-type]
    assert "4/4 trials, 1 errors (2 invalid configs skipped), best 12.5" in stream.getvalue()


def test_fallback_names_a_changed_space(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    old = Record(task.name, task.args, str(task.target), task.target.fingerprint(), "0123456789ab",
                 task.config_space.get(1).to_json(), (1e-3,), "NO_ERROR", "", 0.1, 1.0)
    with tune.apply_history_best([old]):
        with pytest.warns(RuntimeWarning, match="different version of the template's config space"):
            templates.matmul(32, 48, 16)


def test_ctrl_c_leaves_a_clean_log_and_quiet_workers(tmp_path: Path) -> None:
    log = tmp_path / "mm.jsonl"
    cmd = [sys.executable, "-c", "import sys; from tex.cli import main; sys.exit(main(sys.argv[1:]))", "tune",
           f"{TEMPLATES}:test.matmul", "--args", "256,256,256", "--trials", "200", "--tuner", "random",
           "--log", str(log), "--parallel", "1", "--number", "2", "--repeat", "2"]
    # a session of its own, so that the group signal below reaches tex and its workers as a terminal's Ctrl-C
    # would, and not pytest
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stderr is not None
    err = []
    for line in proc.stderr:  # the progress bar writes a line per batch when stderr is not a terminal
        err.append(line)
        if " trials, " in line:
            break
    os.killpg(proc.pid, signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    err.append(rest)
    text = "".join(err)
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "interrupted" in text
    records = tune.load_records(log)
    assert len(records) >= 9 and all(r.ok for r in records)  # the default and at least one batch of 8
