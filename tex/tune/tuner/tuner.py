"""The tuning loop shared by every tuner: propose a batch, measure it, learn from it, repeat.

A subclass implements `next_batch(n)` (configs not measured yet), and optionally `update(inputs,
results)` and `has_next()`. `tune()` never raises for a failed measurement: failures are results with
infinite cost. A proposed config that the template refuses (instantiating it raises) is recorded as an
invalid-config result without spending a trial, so `n_trial` counts configs that were measured.

After the search the `top_k` best configs, and the template's default config, are measured again, interleaved:
`final_rounds` rounds, each timing every candidate once (in a rotated order) with a share of `final_repeat`
repeats, so that a load spike hits all candidates alike. The candidate with the lowest median over all its
re-measured repeats is declared the best config, so tuning never declares a config that ran slower than the
default in the same re-measurement. Each candidate's re-measurement is reported to the callbacks as one result
holding all its repeats: more repeats than a search measurement, so that `record.pick_best` (and
`apply_history_best`) rank that config by it; configs of the search that measured faster than the chosen one's
re-measured cost are re-measured with the finalists in a further pass, so that the log's best is the tuner's
choice.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from tex.errors import TuneError
from tex.tune.measure import MeasureErrorKind, MeasureInput, MeasureOption, MeasureResult, measure_option
from tex.tune.record import Record, load_records
from tex.tune.space import Config
from tex.tune.task import Task

Callback = Callable[["Tuner", list[MeasureInput], list[MeasureResult]], None]

MAX_FINAL_PASSES = 3  # re-measurements of the finalists at the end of tune(), see Tuner._final


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
        # the best of the search alone, before the re-measurement may declare another (the default) the best
        self.search_best_config: Config | None = None
        self.search_best_cost = math.inf
        # config index -> its cost in the final re-measurement (the finalists and the default), so a report
        # compares the choice with the default measured alike, not with a figure from another moment
        self.final_costs: dict[int, float] = {}
        self.trials = 0
        self.errors = 0
        self.refused = 0  # configs the template refused when instantiated: logged, never measured nor counted
        self.interrupted = False
        self.started = time.monotonic()
        self.budget_s: float | None = None
        self.n_trial = 0
        self.resumed: list[tuple[MeasureInput, MeasureResult]] = []  # what resume() learnt from a log

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
            results.append(MeasureResult(r.costs, MeasureErrorKind(r.error), r.error_msg, r.all_cost, r.timestamp))
        if inputs:
            self._note(inputs, results)
            self.update(inputs, results)
            self.resumed += zip(inputs, results, strict=True)
        return len(inputs)

    def tune(self, n_trial: int, measure_option: MeasureOption | None = None, early_stopping: int | None = None,
             callbacks: Sequence[Callback] = (), budget_s: float | None = None,
             resume: str | os.PathLike[str] | None = None, top_k: int = 3, final_repeat: int | None = None,
             final_rounds: int = 3) -> Config | None:
        """Measure up to `n_trial` new configs (or until `budget_s` seconds or `early_stopping` trials without
        improvement), then re-measure the `top_k` best and the default config (`top_k` < 2: no
        re-measurement) in `final_rounds` interleaved rounds of `final_repeat` repeats in all (default: 3x
        the runner's); returns the best config, also in `best_config` / `best_cost`."""
        if n_trial < 1:
            raise TuneError(f"tune: n_trial must be >= 1, got {n_trial}")
        if final_rounds < 1:
            raise TuneError(f"tune: final_rounds must be >= 1, got {final_rounds}")
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
                configs = self._screen(configs, callbacks)
                if not configs:
                    continue
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
            self.search_best_config, self.search_best_cost = self.best_config, self.best_cost
            self._final(mo, measured, top_k, final_repeat, callbacks, final_rounds)
        except KeyboardInterrupt:
            self.interrupted = True  # every finished measurement is already logged by the callbacks
        finally:
            if measure_option is None:
                mo.close()
        return self.best_config

    def _screen(self, configs: list[Config], callbacks: Sequence[Callback]) -> list[Config]:
        """The configs the template accepts. One it refuses (instantiating it raises: a factor larger than an
        extent, a register tile larger than the register file) costs no trial: it is learnt and logged as an
        INSTANTIATION_ERROR result here, in this process, as the builder would record it after a round trip
        (instantiating is a few ms: it builds the schedule, nothing is lowered or compiled)."""
        ok: list[Config] = []
        refused: list[tuple[MeasureInput, MeasureResult]] = []
        for c in configs:
            built, why = self.task.try_instantiate(c)  # the builder's worker refuses the same configs
            if built is None:
                refused.append((MeasureInput(self.task, c),
                                MeasureResult((math.inf,), MeasureErrorKind.INSTANTIATION_ERROR, why)))
            else:
                ok.append(c)
        if refused:
            inputs, results = [i for i, _ in refused], [r for _, r in refused]
            self.refused += len(refused)
            self.update(inputs, results)
            for cb in callbacks:
                cb(self, inputs, results)
        return ok

    def _final(self, mo: MeasureOption, measured: list[tuple[MeasureInput, MeasureResult]], top_k: int,
               final_repeat: int | None, callbacks: Sequence[Callback], rounds: int = 3) -> None:
        """Re-measure the best `top_k` configs of the search and the default config, interleaved, and declare
        the one with the lowest median the best.

        In the log, a config measured only in the search keeps its search cost: one that looked faster there
        than the chosen config's re-measured cost (the machine got busier) would outrank it in `pick_best`. Such
        configs (up to `top_k` a pass, fastest first) join the finalists and all are re-measured together
        again, at most `MAX_FINAL_PASSES` passes."""
        inputs = self._finalists(measured, top_k)
        if len(inputs) < 2:
            return
        # in all at least the runner's repeats: pick_best keeps the measurement with the most repeats per config
        total = max(final_repeat or 3 * mo.runner.repeat, mo.runner.repeat)
        searched: dict[int, tuple[float, MeasureInput]] = {}
        for inp, r in [*self.resumed, *measured]:
            if r.ok and r.cost < searched.get(inp.config.index, (math.inf, inp))[0]:
                searched[inp.config.index] = (r.cost, inp)
        for _ in range(MAX_FINAL_PASSES):
            results = remeasure_interleaved(mo, inputs, rounds, -(-total // rounds))
            for cb in callbacks:
                cb(self, inputs, results)
            ok = [(r.cost, n, inp) for n, (inp, r) in enumerate(zip(inputs, results, strict=True)) if r.ok]
            self.final_costs.update((inp.config.index, c) for c, _, inp in ok)
            if not ok:
                return
            cost, _, best = min(ok, key=lambda x: (x[0], x[1]))  # a tie goes to the better-ranked one
            self.best_cost, self.best_config = cost, best.config
            done = {inp.config.index for inp in inputs}
            extra = [inp for c, inp in sorted(searched.values(), key=lambda x: x[0])
                     if c < cost and inp.config.index not in done][:top_k]
            if not extra:
                return
            inputs = [inp for _, _, inp in sorted(ok, key=lambda x: (x[0], x[1]))] + extra

    def _finalists(self, measured: list[tuple[MeasureInput, MeasureResult]], top_k: int) -> list[MeasureInput]:
        """The `top_k` (>= 2) fastest distinct configs of the search, best first, then the default config
        unless it is among them or failed."""
        if top_k < 2:
            return []
        best: dict[int, tuple[float, MeasureInput]] = {}
        failed: set[int] = set()
        for inp, r in measured:
            if not r.ok:
                failed.add(inp.config.index)
            elif inp.config.index not in best or r.cost < best[inp.config.index][0]:
                best[inp.config.index] = (r.cost, inp)
        out = [inp for _, inp in sorted(best.values(), key=lambda x: x[0])[:top_k]]
        if not out:
            return []
        default = self.space.default()
        if default.index not in failed and all(inp.config.index != default.index for inp in out):
            out.append(MeasureInput(self.task, default))
        return out


def remeasure_interleaved(mo: MeasureOption, inputs: list[MeasureInput], rounds: int, repeat: int
                          ) -> list[MeasureResult]:
    """Measure `inputs` in `rounds` rounds of `repeat` repeats each, every round all of them (the order rotated
    by one per round); per input one result holding all its repeats, or its first error. Each round builds the
    inputs again: a LocalRunner times a kernel once, in the worker that built it."""
    costs: list[list[float]] = [[] for _ in inputs]
    spent = [0.0] * len(inputs)
    errors: dict[int, MeasureResult] = {}
    for r in range(rounds):
        order = [(r + n) % len(inputs) for n in range(len(inputs))]
        order = [n for n in order if n not in errors]
        if not order:
            break
        for n, res in zip(order, mo.measure([inputs[n] for n in order], repeat=repeat), strict=True):
            spent[n] += res.all_cost
            if res.ok:
                costs[n] += res.costs
            else:
                errors[n] = res
    return [errors.get(n) or MeasureResult(tuple(costs[n]), MeasureErrorKind.NO_ERROR, "", spent[n])
            for n in range(len(inputs))]


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


