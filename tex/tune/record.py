"""Tuning records: one JSON object per line, one line per measurement.

    {"v": 1, "task": "matmul", "args": [512, 512, 512, "float32"], "target": "llvm",
     "fingerprint": {"kind": "llvm", "cpu": "znver4", "features": "+avx512f,...", "llvm": "22.1.0", ...},
     "space": "3f2a9c01d7e4", "config": {"tile_i": [64, 8], ...}, "costs": [0.00123, ...],
     "error": "NO_ERROR", "error_msg": "", "all_cost": 0.41, "timestamp": 1795000000.0, "tex": "0.1.0"}

A record applies only where task, args, target fingerprint and space version all match: a log tuned on
one machine never silently applies to another. Lines are appended with one write each, flushed and
fsync-ed, so an interrupted run leaves at worst a torn last line, which loading skips with a warning.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tex.errors import TuneError

VERSION = 1


def _tex_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tex")
    except PackageNotFoundError:
        return "0.1.0"


def _listify(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_listify(v) for v in x]
    return x


def _tuplify(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return tuple(_tuplify(v) for v in x)
    return x


@dataclass(frozen=True)
class Record:
    task: str
    args: tuple[Any, ...]
    target: str
    fingerprint: dict[str, Any]
    space: str
    config: dict[str, Any]
    costs: tuple[float, ...]
    error: str = "NO_ERROR"
    error_msg: str = ""
    all_cost: float = 0.0
    timestamp: float = 0.0
    tex: str = field(default_factory=_tex_version)

    @property
    def ok(self) -> bool:
        return self.error == "NO_ERROR" and bool(self.costs) and all(math.isfinite(c) for c in self.costs)

    @property
    def cost(self) -> float:
        if not self.ok:
            return math.inf
        s = sorted(self.costs)
        return s[len(s) // 2]

    def to_json(self) -> str:
        return json.dumps({
            "v": VERSION, "task": self.task, "args": _listify(self.args), "target": self.target,
            "fingerprint": self.fingerprint, "space": self.space, "config": self.config,
            "costs": [c if math.isfinite(c) else None for c in self.costs], "error": self.error,
            "error_msg": self.error_msg[:500], "all_cost": round(self.all_cost, 4), "timestamp": self.timestamp,
            "tex": self.tex,
        }, separators=(",", ":"))

    @staticmethod
    def from_json(obj: dict[str, Any], where: str) -> Record:
        v = obj.get("v")
        if v is None:
            raise TuneError(f"{where}: not a tex tuning record (no 'v' field)")
        if not isinstance(v, int) or v > VERSION:
            raise TuneError(f"{where}: record version {v!r} was written by a newer tex; this tex reads "
                            f"version {VERSION} (upgrade tex)")
        try:
            return Record(obj["task"], _tuplify(obj["args"]), obj["target"], obj["fingerprint"], obj["space"],
                          obj["config"], tuple(math.inf if c is None else float(c) for c in obj["costs"]),
                          obj.get("error", "NO_ERROR"), obj.get("error_msg", ""), obj.get("all_cost", 0.0),
                          obj.get("timestamp", 0.0), obj.get("tex", "?"))
        except KeyError as e:
            raise TuneError(f"{where}: tuning record lacks the field {e}") from None

    def matches(self, task: str, args: tuple[Any, ...], fingerprint: dict[str, Any]) -> bool:
        return self.task == task and self.args == args and self.fingerprint == fingerprint


def make_record(inp: Any, res: Any) -> Record:
    """The record of MeasureInput `inp` and its MeasureResult `res`."""
    task = inp.task
    return Record(task.name, task.args, str(task.target), task.target.fingerprint(), task.config_space.version(),
                  inp.config.to_json(), tuple(res.costs), res.error_kind.value, res.error_msg, res.all_cost,
                  res.timestamp)


def append_records(path: str | os.PathLike[str], records: Iterable[Record]) -> None:
    """Append lines in one write, then flush and fsync: a crash never leaves more than a torn last line."""
    text = "".join(r.to_json() + "\n" for r in records)
    if not text:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def load_records(path: str | os.PathLike[str]) -> list[Record]:
    """Every record of a log; a torn last line is skipped with a warning, any other bad line is an error."""
    p = Path(path)
    if not p.exists():
        raise TuneError(f"tuning log {p} does not exist")
    lines = p.read_text(encoding="utf-8").split("\n")
    complete = p.read_text(encoding="utf-8").endswith("\n")
    out: list[Record] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        last = n == len(lines) or (n == len(lines) - 1 and not lines[-1])
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if last or (n == len(lines) and not complete):
                warnings.warn(f"{p}:{n}: skipping a torn last line (an interrupted write)", RuntimeWarning,
                              stacklevel=2)
                continue
            raise TuneError(f"{p}:{n}: not a JSON tuning record: {line[:60]!r}") from None
        out.append(Record.from_json(obj, f"{p}:{n}"))
    return out


def pick_best(records: Iterable[Record]) -> dict[tuple[Any, ...], Record]:
    """The fastest successful record per (task, args, target fingerprint, space version).

    A config measured more than once (the tuner re-measures its top configs with more repeats before it
    declares the best) is represented by its measurement with the most repeats, the latest on a tie, so that
    a lucky first measurement does not outrank the re-measurement that the tuner's choice rests on."""
    per_config: dict[tuple[Any, ...], Record] = {}
    for r in records:
        if not r.ok:
            continue
        key = (r.task, r.args, json.dumps(r.fingerprint, sort_keys=True), r.space)
        ckey = (*key, json.dumps(r.config, sort_keys=True))
        old = per_config.get(ckey)
        if old is None or (len(r.costs), r.timestamp) >= (len(old.costs), old.timestamp):
            per_config[ckey] = r
    best: dict[tuple[Any, ...], Record] = {}
    for ckey, r in per_config.items():
        key = ckey[:4]
        if key not in best or r.cost < best[key].cost:
            best[key] = r
    return best
