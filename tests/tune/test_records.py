"""Tuning records: format, crash safety, best picks, and apply_history_best's fallbacks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

import tex
from tests.tune import templates
from tex import tune
from tex.tune.record import Record


def fake_record(task: tune.Task, index: int, cost: float, fingerprint: dict | None = None) -> Record:
    cfg = task.config_space.get(index)
    return Record(task.name, task.args, str(task.target), fingerprint or task.target.fingerprint(),
                  task.config_space.version(), cfg.to_json(), (cost, cost), "NO_ERROR", "", 0.1, 1.0)


def test_round_trip_and_pick_best(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    log = tmp_path / "log.jsonl"
    tune.append_records(log, [fake_record(task, 3, 2e-3), fake_record(task, 5, 1e-3), fake_record(task, 7, 4e-3)])
    recs = tune.load_records(log)
    assert [r.config for r in recs] == [task.config_space.get(i).to_json() for i in (3, 5, 7)]
    (best,) = tune.pick_best(recs).values()
    assert best.cost == 1e-3
    line = json.loads(log.read_text().splitlines()[0])
    for key in ("task", "args", "target", "fingerprint", "space", "config", "costs", "error", "timestamp", "tex"):
        assert key in line


def test_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    log = tmp_path / "log.jsonl"
    tune.append_records(log, [fake_record(task, 1, 1e-3)])
    with open(log, "a") as f:
        f.write('{"v": 1, "task": "test.mat')  # the process died mid-write
    with pytest.warns(RuntimeWarning, match="torn last line"):
        assert len(tune.load_records(log)) == 1


def test_bad_files_are_refused(tmp_path: Path) -> None:
    log = tmp_path / "new.jsonl"
    log.write_text('{"v": 99, "task": "x"}\n')
    with pytest.raises(tex.TuneError, match="newer tex"):
        tune.load_records(log)
    log.write_text('{"task": "x"}\n')
    with pytest.raises(tex.TuneError, match="not a tex tuning record"):
        tune.load_records(log)
    log.write_text('garbage\n{"v": 1}\n')
    with pytest.raises(tex.TuneError, match=":1: not a JSON tuning record"):
        tune.load_records(log)


def test_apply_history_best_picks_the_best_config(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    log = tmp_path / "log.jsonl"
    tune.append_records(log, [fake_record(task, 3, 2e-3), fake_record(task, 11, 1e-3)])
    with tune.apply_history_best(str(log)) as ctx:
        cfg, why = ctx.query(task.template, task.args)
        assert cfg is not None and cfg.index == 11 and why == ""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            templates.matmul(32, 48, 16)  # the best record applies: no warning


def test_fallback_reasons_and_one_time_warning(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    log = tmp_path / "log.jsonl"
    foreign = {**task.target.fingerprint(), "cpu": "someothercpu"}
    tune.append_records(log, [fake_record(task, 3, 2e-3, foreign)])
    with tune.apply_history_best(str(log)):
        with pytest.warns(RuntimeWarning, match="only for another target \\(cpu someothercpu"):
            templates.matmul(32, 48, 16)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            templates.matmul(32, 48, 16)  # said once only
        with pytest.warns(RuntimeWarning, match="no record of 'test.matmul' for args \\[16, 16, 16\\]"):
            templates.matmul(16, 16, 16)
    with tune.apply_history_best([]):
        with pytest.warns(RuntimeWarning, match="no record for template 'test.matmul'"):
            templates.matmul(8, 8, 8)


def test_resume_skips_measured_configs(tmp_path: Path) -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    log = tmp_path / "log.jsonl"
    tune.append_records(log, [fake_record(task, i, 1e-3 * (i + 1)) for i in range(10)])
    tuner = tune.GridSearchTuner(task)
    assert tuner.resume(str(log)) == 10
    assert tuner.best_config is not None and tuner.best_config.index == 0
    assert all(c.index >= 10 for c in tuner.next_batch(8))
