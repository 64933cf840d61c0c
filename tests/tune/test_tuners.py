"""Tuners: no repeats, seeds reproduce, and the model-based tuner beats random search on a known landscape."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from tests.tune import templates  # noqa: F401
from tex import tune
from tex.tune.space import Config
from tex.tune.tuner.sa_optimizer import anneal


class FakeRunner:
    repeat = 1


class Landscape:
    """A MeasureOption stand-in whose cost is a known function of the config (no processes, no timing noise)."""

    runner = FakeRunner()

    def __init__(self, cost: Callable[[Config], float]):
        self.cost = cost
        self.seen: list[int] = []

    def measure(self, inputs: list[tune.MeasureInput], repeat: int | None = None) -> list[tune.MeasureResult]:
        out = []
        for i in inputs:
            self.seen.append(i.config.index)
            c = self.cost(i.config)
            kind = tune.MeasureErrorKind.NO_ERROR if math.isfinite(c) else tune.MeasureErrorKind.RUNTIME_ERROR
            out.append(tune.MeasureResult((c,), kind))
        return out

    def close(self) -> None:
        pass


def bowl(cfg: Config) -> float:
    """Fast when tile_i's inner factor is 8 and tile_j's is 16, vectorized; invalid (inf) for tile_i inner 1."""
    ti = cfg.value("tile_i")[1]
    tj = cfg.value("tile_j")[1]
    if ti == 1:
        return math.inf
    return 1e-3 * (1 + abs(math.log2(ti) - 3) + abs(math.log2(tj) - 4)) * (1 if cfg.value("vec") else 2)


@pytest.fixture
def task() -> tune.Task:
    return tune.create_task("test.matmul", (256, 64, 16))


@pytest.mark.parametrize("cls", [tune.RandomTuner, tune.GridSearchTuner, tune.GATuner, tune.XGBTuner])
def test_every_tuner_finds_the_optimum_without_repeats(task: tune.Task, cls: type[tune.Tuner]) -> None:
    land = Landscape(bowl)
    tuner = cls(task, seed=3)
    tuner.tune(len(task.config_space), land, top_k=1)  # the whole space: each config exactly once
    assert len(land.seen) == len(set(land.seen)) == len(task.config_space)
    assert tuner.best_config is not None and bowl(tuner.best_config) == 1e-3
    assert tuner.errors == sum(1 for c in task.config_space if not math.isfinite(bowl(c)))


@pytest.mark.parametrize("cls", [tune.RandomTuner, tune.GATuner, tune.XGBTuner])
def test_a_seed_reproduces_the_search(task: tune.Task, cls: type[tune.Tuner]) -> None:
    runs = []
    for _ in range(2):
        land = Landscape(bowl)
        cls(task, seed=11).tune(24, land, top_k=1)
        runs.append(land.seen)
    assert runs[0] == runs[1]


def test_xgb_tuner_beats_random_on_a_known_landscape() -> None:
    task = tune.create_task("test.matmul", (1024, 64, 16))

    def trials_to_optimum(cls: type[tune.Tuner], seed: int) -> int:
        land = Landscape(bowl)
        cls(task, seed=seed).tune(len(task.config_space), land, top_k=1, early_stopping=None)
        return next(n for n, idx in enumerate(land.seen, 1) if bowl(task.config_space.get(idx)) == 1e-3)

    xgb = np.median([trials_to_optimum(tune.XGBTuner, s) for s in range(5)])
    rnd = np.median([trials_to_optimum(tune.RandomTuner, s) for s in range(5)])
    assert xgb < rnd, (xgb, rnd)


@pytest.mark.parametrize("cls", [tune.RandomTuner, tune.GridSearchTuner, tune.GATuner, tune.XGBTuner])
def test_refused_configs_cost_no_trial_and_are_logged(tmp_path: object, cls: type[tune.Tuner]) -> None:
    """A config whose template raises when instantiated (test.faulty's "invalid") never reaches the
    measurement and is not a trial; its INSTANTIATION_ERROR record is in the log, so a resumed run skips it."""
    task = tune.create_task("test.faulty", (64,))
    land = Landscape(lambda cfg: 1e-3 if cfg.value("mode") == "ok" else 2e-3)
    log = f"{tmp_path}/log.jsonl"
    tuner = cls(task, seed=1)
    tuner.tune(len(task.config_space), land, top_k=1, callbacks=[tune.callback.log_to_file(log)])
    modes = [task.config_space.get(i).value("mode") for i in land.seen]
    assert sorted(modes) == ["crash", "hang", "ok", "wrong"]
    assert (tuner.trials, tuner.refused) == (4, 1)
    (rec,) = [r for r in tune.load_records(log) if r.config["mode"] == "invalid"]
    assert rec.error == "INSTANTIATION_ERROR" and "factor must be a positive int" in rec.error_msg
    again, land2 = cls(task, seed=1), Landscape(land.cost)
    again.tune(5, land2, top_k=1, resume=log)
    assert land2.seen == [] and (again.trials, again.refused) == (0, 0)


def test_early_stopping_and_budget(task: tune.Task) -> None:
    land = Landscape(lambda cfg: 1e-3)  # flat: nothing ever improves after the first batch
    tuner = tune.RandomTuner(task, seed=0)
    tuner.tune(50, land, early_stopping=8, top_k=1)
    assert tuner.trials == 16
    tuner = tune.RandomTuner(task, seed=0)
    tuner.tune(50, land, budget_s=0.0, top_k=1)
    assert tuner.trials == 0 or tuner.trials <= tuner.batch_size


def test_simulated_annealing_finds_the_top_of_a_known_function(task: tune.Task) -> None:
    space = task.config_space

    def score(cfgs: list[Config]) -> np.ndarray:
        return np.array([-bowl(c) if math.isfinite(bowl(c)) else -1.0 for c in cfgs])

    top = anneal(space, score, 4, set(), np.random.default_rng(0), n_iter=80, parallel=16)
    assert bowl(top[0]) == 1e-3
    excluded = anneal(space, score, 4, {top[0].index}, np.random.default_rng(0), n_iter=80, parallel=16)
    assert top[0].index not in {c.index for c in excluded}


def test_tune_rejects_zero_trials(task: tune.Task) -> None:
    with pytest.raises(Exception, match="n_trial must be >= 1"):
        tune.RandomTuner(task).tune(0, Landscape(bowl))


def test_xgb_overlap_is_reproducible_and_never_repeats(task: tune.Task) -> None:
    """overlap=True anneals in a background thread; its proposals still follow the seed, without repeats."""
    runs = []
    for _ in range(2):
        land = Landscape(bowl)
        tuner = tune.XGBTuner(task, seed=5, overlap=True)
        tuner.tune(40, land, top_k=1)
        tuner._join()
        runs.append(land.seen)
    assert runs[0] == runs[1]
    assert len(runs[0]) == len(set(runs[0])) == 40


def test_feature_cache_equals_fresh_features(task: tune.Task) -> None:
    from tex.tune.cost_model.xgb_model import XGBoostCostModel
    from tex.tune.feature import config_features

    model = XGBoostCostModel(task)
    configs = [task.config_space.get(i) for i in range(0, len(task.config_space), 7)]
    first = model.features(configs)
    again = model.features(configs[::-1])[::-1]  # served from the per-index cache
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(again, config_features(task, configs))
