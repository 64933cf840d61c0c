"""XGBTuner: a model-based tuner (AutoTVM's): an XGBoost cost model over loop-IR features ranks the
space, simulated annealing proposes the `plan_size` best-predicted unmeasured configs, and each batch
takes from that plan, with an `epsilon` share of random picks and a diversity filter (no two picks of a
batch differ in fewer than `min_distance` knobs while alternatives remain)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from tex.tune.cost_model.xgb_model import XGBoostCostModel
from tex.tune.measure import MeasureInput, MeasureResult
from tex.tune.record import Record
from tex.tune.space import Config
from tex.tune.task import Task
from tex.tune.tuner.sa_optimizer import anneal
from tex.tune.tuner.tuner import Tuner, unvisited_random


def _distance(a: Config, b: Config) -> int:
    return sum(1 for k in a.choice if a.choice[k] != b.choice[k])


class XGBTuner(Tuner):
    def __init__(self, task: Task, plan_size: int = 64, feature_type: str = "itervar", loss_type: str = "rank",
                 seed: int | None = None, epsilon: float = 0.05, min_distance: int = 1, batch_size: int = 8,
                 sa_iters: int = 60, sa_parallel: int = 32, overlap: bool = False):
        super().__init__(task, seed)
        self.plan_size, self.epsilon, self.min_distance = plan_size, epsilon, min_distance
        self.batch_size = batch_size
        self.sa_iters, self.sa_parallel = sa_iters, sa_parallel
        self.model = XGBoostCostModel(task, feature_type, loss_type, seed=seed or 0)
        self.plan: list[Config] = []
        self.xs: list[Config] = []
        self.ys: list[float] = []
        self._since_fit = 0
        self._has_history = False
        # overlap=True: the plan after a refit is annealed in a background thread while the next batch
        # (taken from the previous plan) is measured; the main thread mostly waits on the workers there, so
        # the feature extraction (lowering) of the annealer's candidates runs in that wait. The plan is one
        # batch staler, and as deterministic: the thread has its own generator, seeded from self.rng.
        self.overlap = overlap
        self._pending: threading.Thread | None = None
        self._pending_out: dict[str, object] = {}

    def load_history(self, records: Sequence[Record]) -> None:
        """Warm start from records of other tasks (transfer learning); records of this task also seed the search."""
        mine = [r for r in records if r.task == self.task.name and r.args == self.task.args]
        others = [r for r in records if not (r.task == self.task.name and r.args == self.task.args)]
        if others:
            self.model.fit_log(others)
            self._has_history = self.model.booster is not None
            if self._has_history:
                self._replan()
        if mine:
            self.resume(mine)

    def _replan(self) -> None:
        self._join()
        self.plan = anneal(self.space, self.model.predict, self.plan_size, self.visited, self.rng,
                           n_iter=self.sa_iters, parallel=self.sa_parallel)

    def _replan_async(self) -> None:
        self._join()
        rng = np.random.default_rng(int(self.rng.integers(2**63)))
        exclude = set(self.visited)
        out: dict[str, object] = {}

        def work() -> None:
            try:
                out["plan"] = anneal(self.space, self.model.predict, self.plan_size, exclude, rng,
                                     n_iter=self.sa_iters, parallel=self.sa_parallel)
            except BaseException as e:  # re-raised in the main thread by _join
                out["error"] = e

        self._pending_out = out
        self._pending = threading.Thread(target=work, name="tex-xgb-replan", daemon=True)
        self._pending.start()

    def _join(self) -> None:
        """Wait for a background plan and take it (or raise its error)."""
        if self._pending is None:
            return
        self._pending.join()
        self._pending = None
        out, self._pending_out = self._pending_out, {}
        if "error" in out:
            raise out["error"]  # type: ignore[misc]
        self.plan = out["plan"]  # type: ignore[assignment]

    def next_batch(self, batch_size: int) -> list[Config]:
        if self._pending is not None and not self.plan:
            self._join()  # nothing left of the old plan (e.g. the first plan): wait for the new one
        out: list[Config] = []
        while len(out) < batch_size:
            if self.plan and self.rng.random() >= self.epsilon:
                # take the best remaining plan entry that is far enough from this batch's picks
                pick = next((c for c in self.plan if c.index not in self.visited
                             and all(_distance(c, o) >= self.min_distance for o in out)), None)
                if pick is None:
                    pick = next((c for c in self.plan if c.index not in self.visited and c not in out), None)
                if pick is not None:
                    self.plan.remove(pick)
                    out.append(pick)
                    continue
            taken = {c.index for c in out} | self.visited
            r = unvisited_random(len(self.space), taken, 1, self.rng)
            if not r:
                break
            out.append(self.space.get(r[0]))
        return out

    def update(self, inputs: list[MeasureInput], results: list[MeasureResult]) -> None:
        for inp, res in zip(inputs, results, strict=True):
            self.xs.append(inp.config)
            self.ys.append(res.cost)
        self._since_fit += len(inputs)
        # Refit after every batch once a batch's worth of configs ran; plans are cheap next to measurements.
        enough = sum(1 for c in self.ys if c < float("inf")) >= self.batch_size or self._has_history
        if enough and self._since_fit >= self.batch_size:
            self._join()  # the running annealer reads the booster that fit() replaces
            self.model.fit(self.xs, self.ys)
            if self.overlap:
                self._replan_async()
            else:
                self._replan()
            self._since_fit = 0
