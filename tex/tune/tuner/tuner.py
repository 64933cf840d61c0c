"""The tuning loop shared by every tuner: propose a batch, measure it, learn from it, repeat.

A subclass implements `next_batch(n)` (configs not measured yet), and optionally `update(inputs,
results)` and `has_next()`. `tune()` never raises for a failed measurement: failures are results with
infinite cost. After the search the `top_k` best configs are measured again with `final_repeat` repeats,
and the best of those re-measurements is declared the best config.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from tex.errors import TuneError
from tex.tune.measure import MeasureInput, MeasureOption, MeasureResult, measure_option
from tex.tune.record import Record, load_records
from tex.tune.space import Config
from tex.tune.task import Task

Callback = Callable[["Tuner", list[MeasureInput], list[MeasureResult]], None]


class Tuner:
    """Base class; `seed` makes the proposals reproducible."""

    batch_size = 8

    def __init__(self, task: Task, seed: int | None = None):
        self.task = task
        self.space = task.config_space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.visited: set[int] = set()
        self.best_config: Config | None = None
        self.best_cost = math.inf
        self.trials = 0
        self.errors = 0
        self.interrupted = False
        self.started = time.monotonic()
        self.budget_s: float | None = None
        self.n_trial = 0

    # -- what subclasses provide
    def next_batch(self, batch_size: int) -> list[Config]:
        raise NotImplementedError

    def update(self, inputs: list[MeasureInput], results: list[MeasureResult]) -> None:
        del inputs, results

    def has_next(self) -> bool:
        return len(self.visited) < len(self.space)

    # -- the loop
    @property
    def best_gflops(self) -> float:
        return self.task.flop / self.best_cost / 1e9 if math.isfinite(self.best_cost) else 0.0

    def _note(self, inputs: list[MeasureInput], results: list[MeasureResult]) -> None:
        for inp, res in zip(inputs, results, strict=True):
            if not res.ok:
                self.errors += 1
            elif res.cost < self.best_cost:
                self.best_cost, self.best_config = res.cost, inp.config

    def resume(self, records: str | os.PathLike[str] | Iterable[Record]) -> int:
        """Learn from the matching records of an earlier run and never propose their configs again."""
        recs = load_records(records) if isinstance(records, (str, os.PathLike)) else list(records)
        fp, version = self.task.target.fingerprint(), self.space.version()
        inputs, results = [], []
        for r in recs:
            if not (r.matches(self.task.name, self.task.args, fp) and r.space == version):
                continue
            cfg = self.space.from_json(r.config)
            if cfg.index in self.visited:
                continue
            self.visited.add(cfg.index)
            inputs.append(MeasureInput(self.task, cfg))
            from tex.tune.measure import MeasureErrorKind

            results.append(MeasureResult(r.costs, MeasureErrorKind(r.error), r.error_msg, r.all_cost, r.timestamp))
        if inputs:
            self._note(inputs, results)
            self.update(inputs, results)
        return len(inputs)

    def tune(self, n_trial: int, measure_option: MeasureOption | None = None, early_stopping: int | None = None,
             callbacks: Sequence[Callback] = (), budget_s: float | None = None,
             resume: str | os.PathLike[str] | None = None, top_k: int = 3, final_repeat: int | None = None
             ) -> Config | None:
        """Measure up to `n_trial` new configs (or until `budget_s` seconds or `early_stopping` trials without
        improvement); returns the best config, also in `best_config` / `best_cost`."""
        if n_trial < 1:
            raise TuneError(f"tune: n_trial must be >= 1, got {n_trial}")
        mo = measure_option or _default_measure_option()
        self.started, self.budget_s, self.n_trial = time.monotonic(), budget_s, n_trial
        if resume is not None:
            if os.path.exists(resume):
                self.resume(resume)
        measured: list[tuple[MeasureInput, MeasureResult]] = []
        last_improvement = 0
        try:
            while self.trials < n_trial and self.has_next():
                if budget_s is not None and time.monotonic() - self.started > budget_s:
                    break
                want = min(self.batch_size, n_trial - self.trials)
                configs = [c for c in self.next_batch(want) if c.index not in self.visited][:want]
                if not configs:
                    break
                for c in configs:
                    self.visited.add(c.index)
                inputs = [MeasureInput(self.task, c) for c in configs]
                results = mo.measure(inputs)
                before = self.best_cost
                self.trials += len(inputs)
                self._note(inputs, results)
                measured += zip(inputs, results, strict=True)
                self.update(inputs, results)
                for cb in callbacks:
                    cb(self, inputs, results)
                if self.best_cost < before:
                    last_improvement = self.trials
                if early_stopping is not None and self.trials - last_improvement >= early_stopping:
                    break
            self._final(mo, measured, top_k, final_repeat, callbacks)
        except KeyboardInterrupt:
            self.interrupted = True  # every finished measurement is already logged by the callbacks
        finally:
            if measure_option is None:
                mo.close()
        return self.best_config

    def _final(self, mo: MeasureOption, measured: list[tuple[MeasureInput, MeasureResult]], top_k: int,
               final_repeat: int | None, callbacks: Sequence[Callback]) -> None:
        good = sorted((r.cost, i) for i, (_, r) in enumerate(measured) if r.ok)[:top_k]
        if len(good) < 2:
            return
        inputs = [measured[i][0] for _, i in good]
        results = mo.measure(inputs, repeat=final_repeat or 3 * mo.runner.repeat)
        for cb in callbacks:
            cb(self, inputs, results)
        ok = [(r.cost, inp) for inp, r in zip(inputs, results, strict=True) if r.ok]
        if ok:
            cost, inp = min(ok, key=lambda x: x[0])
            self.best_cost, self.best_config = cost, inp.config


def _default_measure_option() -> MeasureOption:
    return measure_option()


def unvisited_random(space_len: int, visited: set[int], n: int, rng: np.random.Generator) -> list[int]:
    """Up to n distinct random indices not in `visited`."""
    left = space_len - len(visited)
    if left <= 0:
        return []
    if left <= 4 * n or space_len <= 100_000:
        pool = np.setdiff1d(np.arange(space_len), np.fromiter(visited, dtype=np.int64, count=len(visited)))
        return [int(x) for x in rng.permutation(pool)[:n]]
    out: set[int] = set()
    while len(out) < min(n, left):
        x = int(rng.integers(space_len))
        if x not in visited:
            out.add(x)
    return list(out)


