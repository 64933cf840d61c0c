"""The layers of tex import only downwards, and `import tex` needs numpy alone (STYLE.md (a))."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEX = ROOT / "tex"

# Lowest first. A module may import from its own layer or a lower one; a module not covered here fails
# the test until it is given a layer.
LAYERS: list[tuple[str, ...]] = [
    ("tex.errors", "tex.config"),
    ("tex.lang",),
    ("tex.ir",),
    ("tex.schedule",),
    ("tex.targets", "tex.driver", "tex.nd"),
    ("tex.tune",),
    ("tex.ops",),
    ("tex.onnx_import",),
    ("tex", "tex.cli", "tex.cli_tune", "tex.cli_onnx", "tex.contrib", "tex.demo", "tex.__main__"),
]

# Heavy third-party packages live in one layer each, imported lazily (onnxruntime: tests and benchmarks,
# or the command line's `bench --compare onnxruntime` and the demo's comparison).
THIRD_PARTY_HOMES: dict[str, tuple[str, ...]] = {
    "llvmlite": ("tex.targets",),
    "pyopencl": ("tex.targets",),
    "xgboost": ("tex.tune",),
    "onnx": ("tex.onnx_import",),
    "onnxruntime": ("tex.cli", "tex.cli_onnx", "tex.driver", "tex.demo"),
    "torch": ("tex.contrib",),
}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> int | None:
    """The layer of a tex module: its longest listed prefix wins (`tex.lang.dsl` -> `tex.lang`)."""
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for level, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix == "tex"  # the package itself is top level, not everything under it
            if (module == prefix if exact_only else _within(module, prefix)) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), level)
    return None if best is None else best[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def tex_modules() -> list[tuple[str, Path]]:
    return sorted((module_name(p), p) for p in TEX.rglob("*.py"))


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or base.is_dir()


def imports_of(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, at any depth: in functions, under TYPE_CHECKING,
    and `importlib.import_module("...")` with a literal name. `from pkg import sub` counts as
    importing `pkg.sub` when `sub` is a module."""
    package = module if _is_package(path) else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _within(base, "tex") and _exists(sub) else base))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def test_every_module_has_a_layer() -> None:
    missing = [m for m, _ in tex_modules() if layer_of(m) is None]
    assert not missing, f"modules with no layer (add them to LAYERS in {Path(__file__).name}): {missing}"


def test_no_upward_imports() -> None:
    bad = []
    for module, path in tex_modules():
        own = layer_of(module)
        if own is None:
            continue
        for line, target in imports_of(module, path):
            if not _within(target, "tex"):
                continue
            level = layer_of(target)
            if level is not None and level > own:
                rel = path.relative_to(ROOT)
                bad.append(f"{rel}:{line}: {module} (layer {own}) imports {target} (layer {level})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_heavy_packages_stay_in_their_layer() -> None:
    bad = []
    for module, path in tex_modules():
        for line, target in imports_of(module, path):
            top = target.partition(".")[0]
            homes = THIRD_PARTY_HOMES.get(top)
            if homes is not None and not any(_within(module, h) for h in homes):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {top} (allowed in: {', '.join(homes)})")
    assert not bad, "heavy imports outside their layer:\n" + "\n".join(bad)


def test_import_tex_needs_numpy_alone() -> None:
    heavy = sorted(THIRD_PARTY_HOMES)
    code = f"import sys, tex; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"`import tex` imported {out.stdout.strip()}"


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from tex.schedule import Schedule", "tex.ir.nodes", "upward"),
        ("def f():\n    import tex.targets.llvm", "tex.schedule.lower", "upward"),
        ("from ..targets import llvm", "tex.schedule.lower", "upward"),
        ("from . import expr", "tex.lang.dsl", "ok"),
        ("from tex.tune import space", "tex.ops.nn", "ok"),
        ("from tex.lang.expr import Var", "tex.ir.nodes", "ok"),
        ("from tex import errors", "tex.lang.dsl", "ok"),
        ("from tex import placeholder", "tex.ops.nn", "upward"),  # the package itself is the top layer
    ],
)
def test_checker_itself(tmp_path: Path, source: str, module: str, expected: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    own = layer_of(module)
    assert own is not None
    levels = [layer_of(t) for _, t in imports_of(module, path) if _within(t, "tex")]
    upward = any(lv is not None and lv > own for lv in levels)
    assert upward == (expected == "upward"), (source, levels)
