"""`apply_history_best(log)`: templates called inside the block use the best record for their args and
the target, or their default config with a one-time warning saying why no record applied."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from tex.targets.target import Target, as_target
from tex.tune.context import dispatching
from tex.tune.record import Record, load_records, pick_best
from tex.tune.space import Config
from tex.tune.template import Template


class ApplyHistoryBest:
    """A context manager; `query(template, args)` -> (config or None, reason for falling back)."""

    def __init__(self, records: str | os.PathLike[str] | Iterable[Record], target: str | Target = "llvm"):
        self.records = load_records(records) if isinstance(records, (str, os.PathLike)) else list(records)
        self.source = str(records) if isinstance(records, (str, os.PathLike)) else "the given records"
        self.target = as_target(target)
        self.best = pick_best(self.records)
        self._warned: set[tuple[str, Any]] = set()
        self._cm: Any = None

    def query(self, template: Template, args: tuple[Any, ...]) -> tuple[Config | None, str]:
        fp = self.target.fingerprint()
        space = template.space(args)
        key = (template.name, args, json.dumps(fp, sort_keys=True), space.version())
        rec = self.best.get(key)
        if rec is not None:
            return space.from_json(rec.config), ""
        why = self._why(template.name, args, fp, space.version())
        if (template.name, args) in self._warned:
            return None, ""
        self._warned.add((template.name, args))
        return None, f"apply_history_best({self.source}): {why}; using the default config of '{template.name}'"

    def _why(self, name: str, args: tuple[Any, ...], fp: dict[str, Any], version: str) -> str:
        mine = [r for r in self.records if r.task == name]
        if not mine:
            return f"no record for template '{name}'"
        same_args = [r for r in mine if r.args == args]
        if not same_args:
            n_other = len({r.args for r in mine})
            return f"no record of '{name}' for args {list(args)} (records exist for {n_other} other arg sets)"
        ok = [r for r in same_args if r.ok]
        if not ok:
            return f"every record of '{name}' for these args failed"
        here = [r for r in ok if r.fingerprint == fp]
        if not here:
            other = ok[0].fingerprint
            return (f"records for these args exist only for another target (cpu {other.get('cpu')}, "
                    f"llvm {other.get('llvm')}; this one is cpu {fp.get('cpu')}, llvm {fp.get('llvm')})")
        return "records for these args come from a different version of the template's config space"

    def __enter__(self) -> ApplyHistoryBest:
        self._cm = dispatching(self)
        self._cm.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._cm.__exit__(et, ev, tb)


def apply_history_best(records: str | os.PathLike[str] | Iterable[Record],
                       target: str | Target = "llvm") -> ApplyHistoryBest:
    """Use the best tuned config of each template for `target` inside the `with` block."""
    return ApplyHistoryBest(records, target)
