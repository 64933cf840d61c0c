"""The `tex` command: help everywhere, `tex targets`, clean errors and exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import enum
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from tex import cli
from tex.errors import TuneError

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("targets", "tune", "compile", "run", "bench", "ops")
HEAVY = ("llvmlite", "pyopencl", "xgboost", "onnx", "onnxruntime")


def tex(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tex", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def test_help_lists_every_command() -> None:
    out = tex("--help")
    assert out.returncode == 0, out.stderr
    for command in COMMANDS:
        assert command in out.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: tex {command}" in capsys.readouterr().out


def test_help_imports_nothing_heavy() -> None:
    code = (
        "import sys\nfrom tex.cli import main\n"
        "for argv in (['--help'], ['tune', '--help'], ['run', '--help']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_version() -> None:
    out = tex("--version")
    assert out.returncode == 0
    assert out.stdout.startswith("tex 0.")


def test_unknown_command_is_a_usage_error() -> None:
    out = tex("frobnicate")
    assert out.returncode == 2
    assert "invalid choice: 'frobnicate'" in out.stderr
    assert "Traceback" not in out.stderr


def test_no_command_is_a_usage_error() -> None:
    out = tex()
    assert out.returncode == 2
    assert "required" in out.stderr


def test_bad_flag_value_names_the_flag() -> None:
    out = tex("tune", "m.onnx", "--log", "m.jsonl", "--trials", "0")
    assert out.returncode == 2
    assert "--trials: must be a positive integer, got 0" in out.stderr


def test_targets_lists_the_host_cpu() -> None:
    out = tex("targets")
    assert out.returncode == 0, out.stderr
    header, rule, *rows = out.stdout.strip().splitlines()
    assert "name" in header
    assert set(rule.replace(" ", "")) == {"-"}
    assert rows, out.stdout
    assert any(w in row.lower() for row in rows for w in ("cpu", "host", "llvm")), out.stdout


def test_tex_error_is_one_line_and_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def failing(args: argparse.Namespace) -> int:
        raise TuneError("tune(matmul): --trials must be at least the batch size 64, got 8")

    monkeypatch.setattr(cli, "_targets", failing)
    assert cli.main(["targets"]) == 1
    err = capsys.readouterr().err
    assert err == "tex targets: tune(matmul): --trials must be at least the batch size 64, got 8\n"


@pytest.mark.parametrize(
    ("argv", "issue"),
    [
        (["compile", "model.onnx", "-o", "model.so"], 5),
        (["run", "model.onnx", "--input", "x=x.npy"], 5),
        (["bench", "model.onnx", "--compare", "onnxruntime"], 5),
        (["ops", "model.onnx"], 5),
    ],
)
def test_onnx_commands_name_a_missing_model(argv: list[str], issue: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 1  # compile/run/bench are implemented (issue #5): a missing model is a clear error
    assert capsys.readouterr().err == f"tex {argv[0]}: load('model.onnx'): no such file\n"


class Kind(enum.Enum):
    CPU = "cpu"
    GPU = "gpu"


@dataclasses.dataclass(frozen=True)
class Device:
    name: str
    kind: Kind
    features: tuple[str, ...] = ()
    _handle: object = None


def test_table_of_mixed_records() -> None:
    Rec = namedtuple("Rec", "kind name memory")
    records = [
        Device("znver5", Kind.CPU, tuple(f"+f{i}" for i in range(10))),
        {"name": "pthread-cpu", "kind": "cpu", "target": "opencl -device=0"},
        Rec("gpu", "gfx1100", 16 << 30),
    ]
    lines = cli.format_table(records).splitlines()
    assert lines[0].split() == ["name", "kind", "target", "features", "memory"]
    assert lines[2].split()[:4] == ["znver5", "cpu", "-", "+f0,+f1,+f2,+f3,+f4,+f5,..."]
    assert "(10 in all; -v shows them)" in lines[2]
    assert "_handle" not in lines[0]
    assert lines[3].split() == ["pthread-cpu", "cpu", "opencl", "-device=0", "-", "-"]
    assert lines[4].split() == ["gfx1100", "gpu", "-", "-", str(16 << 30)]
    verbose = cli.format_table(records, verbose=True)
    assert "+f9" in verbose


def test_table_of_nothing() -> None:
    assert cli.format_table([]) == "(no devices)"
