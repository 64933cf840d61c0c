"""`tex tune` end to end on a small template, `tex tune --show`, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tex import tune
from tex.cli import main
from tex.cli_tune import parse_args_text, parse_budget

TEMPLATES = Path(__file__).with_name("templates.py")


def test_tune_a_template_file_then_show(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       runner_flushes: list[bool]) -> None:
    log = tmp_path / "mm.jsonl"
    argv = ["tune", f"{TEMPLATES}:test.matmul", "--args", "32,32,16", "--trials", "6", "--tuner", "xgb",
            "--log", str(log), "--seed", "1", "--parallel", "1", "--number", "2", "--repeat", "2"]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "test.matmul[32, 32, 16]" in out.out and "best GFLOP/s" in out.out
    assert "trials, 0 errors, best" in out.err
    records = tune.load_records(log)
    assert len(records) >= 7 and all(r.ok for r in records)  # default + 6 trials (+ re-measured top configs)
    assert main(["tune", "--show", str(log)]) == 0
    shown = capsys.readouterr().out
    assert "test.matmul" in shown and "[32, 32, 16]" in shown and "tile_i=" in shown
    # resuming the same log measures only new configs; --cache-flush times a template cold as well
    assert main([*argv, "--cache-flush"]) == 0
    assert runner_flushes == [False, True]  # a template is timed hot unless asked
    again = tune.load_records(log)
    firsts = {json.dumps(r.config, sort_keys=True) for r in records[1:7]}
    new = {json.dumps(r.config, sort_keys=True) for r in again[len(records) + 1:len(records) + 7]}
    assert not firsts & new


def test_tune_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tune", f"{TEMPLATES}:nope", "--log", str(tmp_path / "x.jsonl")]) == 1
    assert "no tuning template named 'nope'" in capsys.readouterr().err
    assert main(["tune", "missing.py:mm", "--log", str(tmp_path / "x.jsonl")]) == 1
    assert "missing.py: no such file" in capsys.readouterr().err
    assert main(["tune", f"{TEMPLATES}:test.matmul"]) == 1
    assert "--log" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["tune", "x.py:t", "--log", "l", "--budget", "soon"])


def test_argument_parsing() -> None:
    assert parse_args_text("1024,1024,1024,float32") == (1024, 1024, 1024, "float32")
    assert parse_args_text("[[1, 3, 224, 224], [64, 3, 7, 7], true, null]") == ((1, 3, 224, 224), (64, 3, 7, 7),
                                                                               True, None)
    assert parse_args_text("0.5,true,none") == (0.5, True, None)
    assert parse_budget("90s") == 90 and parse_budget("10m") == 600 and parse_budget("1.5h") == 5400
