"""An XGBoost cost model over loop-IR features (tex/tune/feature.py), trained to rank configs.

Targets are throughputs normalised to the best of their task (failed configs score 0). With the "rank"
loss the model learns pairwise order within each task's group (xgboost's rank:pairwise with one query
group per task), which is what lets records of *other* tasks help (`fit_log`, transfer learning): the
loop-IR features mean the same thing across tasks even when their knobs do not. "reg" fits the
normalised throughput directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np

from tex.errors import TuneError
from tex.tune.cost_model.base import CostModel
from tex.tune.feature import config_features
from tex.tune.record import Record
from tex.tune.space import Config


class Loss(Enum):
    RANK = "rank"
    REG = "reg"


class XGBoostCostModel(CostModel):
    def __init__(self, task: Any, feature_type: str = "itervar", loss_type: str = "rank", seed: int = 0,
                 num_boost_round: int = 80, nthread: int | None = None):
        if feature_type not in ("itervar", "knob", "both"):
            raise TuneError(f"XGBoostCostModel: feature_type must be 'itervar', 'knob' or 'both', got {feature_type!r}")
        try:
            self.loss = Loss(loss_type)
        except ValueError:
            raise TuneError(f"XGBoostCostModel: loss_type must be 'rank' or 'reg', got {loss_type!r}") from None
        self.task = task
        self.feature_type = feature_type
        self.seed = seed
        self.rounds = num_boost_round
        self.nthread = nthread
        self.booster: Any = None
        self._cache: dict[int, np.ndarray] = {}
        self._history: list[tuple[np.ndarray, np.ndarray]] = []  # (features, targets) per foreign task

    def features(self, configs: Sequence[Config]) -> np.ndarray:
        missing = [c for c in configs if c.index not in self._cache]
        if missing:
            for c, row in zip(missing, config_features(self.task, missing, self.feature_type), strict=True):
                self._cache[c.index] = row
        return np.stack([self._cache[c.index] for c in configs])

    @staticmethod
    def _targets(costs: Sequence[float], flop: float) -> np.ndarray:
        thr = np.array([flop / c if math.isfinite(c) and c > 0 else 0.0 for c in costs])
        top = thr.max() if len(thr) else 0.0
        return thr / top if top > 0 else thr

    def _train(self, groups: list[tuple[np.ndarray, np.ndarray]]) -> None:
        import xgboost as xgb

        x = np.concatenate([g[0] for g in groups])
        y = np.concatenate([g[1] for g in groups])
        params: dict[str, Any] = {"max_depth": 6, "eta": 0.3, "gamma": 1e-4, "min_child_weight": 1,
                                  "subsample": 1.0, "seed": self.seed, "verbosity": 0}
        if self.nthread:
            params["nthread"] = self.nthread
        d = xgb.DMatrix(x, label=y)
        if self.loss is Loss.RANK:
            params["objective"] = "rank:pairwise"
            d.set_group([len(g[1]) for g in groups])
        else:
            params["objective"] = "reg:squarederror"
        self.booster = xgb.train(params, d, num_boost_round=self.rounds)

    def fit(self, configs: Sequence[Config], costs: Sequence[float]) -> None:
        if not configs:
            return
        mine = (self.features(configs), self._targets(costs, self.task.flop))
        self._train([*self._history, mine])

    def fit_log(self, records: Sequence[Record]) -> None:
        """Learn from records of other tasks (their templates must be importable here)."""
        from tex.tune.task import create_task

        if self.feature_type != "itervar":
            raise TuneError("XGBoostCostModel.fit_log: transfer learning needs feature_type='itervar' (knob "
                            "features differ from template to template)")
        by_task: dict[tuple[Any, ...], list[Record]] = {}
        for r in records:
            by_task.setdefault((r.task, r.args, r.target), []).append(r)
        for (name, args, target), recs in by_task.items():
            task = create_task(name, args, target)
            space = task.config_space
            configs, costs = [], []
            for r in recs:
                try:
                    configs.append(space.from_json(r.config))
                    costs.append(r.cost)
                except TuneError:
                    continue  # a record from another version of the template's space
            if len(configs) < 2:
                continue
            x = config_features(task, configs, self.feature_type)
            self._history.append((x, self._targets(costs, task.flop)))
        if self._history:
            self._train(self._history)

    def predict(self, configs: Sequence[Config]) -> np.ndarray:
        if self.booster is None:
            return np.zeros(len(configs))
        import xgboost as xgb

        return self.booster.predict(xgb.DMatrix(self.features(configs)))
