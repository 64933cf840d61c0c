"""The README's demo (`python -m tex.demo`) runs end to end on a small size: every section prints its table."""

from __future__ import annotations

import pytest

from tex import demo


def test_demo_runs_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    demo.main(["--size", "64", "--trials", "8", "--model", "squeezenet"])
    out = capsys.readouterr().out
    assert "tex hand-scheduled" in out and "numpy (OpenBLAS)" in out  # the GEMM section
    assert "tuned (best record)" in out                                 # the tuning section
    assert "light_squeezenet.onnx" in out and "tex (untuned)" in out    # the model section
    err = float(out.split("max abs difference of the outputs: ")[1].split(";")[0])
    assert err < 1e-4
