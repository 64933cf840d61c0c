"""Callbacks for `Tuner.tune`: a live progress line and the tuning log."""

from __future__ import annotations

import math
import os
import sys
import time
from typing import IO, TYPE_CHECKING

from tex.tune.record import append_records, make_record

if TYPE_CHECKING:
    from tex.tune.measure import MeasureInput, MeasureResult
    from tex.tune.tuner.tuner import Callback, Tuner


def log_to_file(path: str | os.PathLike[str]) -> Callback:
    """Append one record per measurement to `path` (JSON lines, crash-safe)."""

    def cb(tuner: Tuner, inputs: list[MeasureInput], results: list[MeasureResult]) -> None:
        del tuner
        append_records(path, [make_record(i, r) for i, r in zip(inputs, results, strict=True)])

    return cb


def _clock(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def progress_bar(total: int, prefix: str = "", stream: IO[str] | None = None) -> Callback:
    """One line, rewritten in place on a terminal: trials, errors, best GFLOP/s, elapsed and remaining time."""
    out = stream or sys.stderr
    live = out.isatty()
    total_trials = total

    shown = {"trials": 0}

    def cb(tuner: Tuner, inputs: list[MeasureInput], results: list[MeasureResult]) -> None:
        del inputs
        if not live and tuner.trials == shown["trials"] and all(r.error_kind.name == "INSTANTIATION_ERROR"
                                                                 for r in results):
            return  # configs refused without a trial (Tuner._screen): no new line in a log
        shown["trials"] = tuner.trials
        elapsed = time.monotonic() - tuner.started
        # a space smaller than the trial count ends the search early: count down to what is left of it
        total = min(total_trials, tuner.trials + max(0, len(tuner.space) - len(tuner.visited)))
        done = min(tuner.trials, total)
        left = elapsed / done * (total - done) if done else math.nan
        if tuner.budget_s is not None:
            left = min(left, max(0.0, tuner.budget_s - elapsed)) if not math.isnan(left) else tuner.budget_s - elapsed
        width = 24
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "." * (width - filled)
        line = (f"{prefix}[{bar}] {done}/{total} trials, {tuner.errors} errors"
                f"{f' ({tuner.refused} invalid configs skipped)' if tuner.refused else ''}, best "
                f"{tuner.best_gflops:.1f} GFLOP/s, {_clock(elapsed)} elapsed, "
                f"{'?' if math.isnan(left) else _clock(left)} left")
        out.write(("\r" + line + " " * 4) if live else line + "\n")
        if live and done >= total:
            out.write("\n")
        out.flush()

    return cb
