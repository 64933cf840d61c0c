"""The README's OpenCL example runs as printed (it is the ~10-line example issue 4 asks for)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_opencl_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    section = README.read_text().split("\n## OpenCL\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README: the OpenCL section has no python example"
    assert len(code.group(1).strip().splitlines()) <= 12
    script = tmp_path / "example.py"
    script.write_text(code.group(1))
    runpy.run_path(str(script), run_name="__main__")  # its own assert compares with numpy
    out = capsys.readouterr().out
    assert "__kernel" in out and "restrict" in out and "get_local_id(0)" in out
