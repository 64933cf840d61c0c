"""The tuner's final re-measurement: the top configs and the default config, interleaved over rounds, medians.

A stand-in MeasureOption gives every config a known cost and can add a load spike to chosen measurements,
so the choice is deterministic and needs no processes or timers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import tex
from tex import tune
from tex.errors import TuneError
from tex.tune.tuner.tuner import remeasure_interleaved

FAST = {0: 5.0, 1: 1.0, 2: 1.2, 3: 4.0, 4: 3.0, 5: 1.1, 6: 6.0, 7: 7.0}  # ms per config index; 1 is the fastest


@tune.template("test.final_choice")
def final_choice(n: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
    """Eight configs, the default is index 5; only the stand-in measures them."""
    cfg = tune.get_config()
    cfg.define_knob("x", list(range(8)), default=5)
    A = tex.placeholder((n,), name="A")
    B = tex.compute((n,), lambda i: A[i] * 2.0, name="B")
    return tex.create_schedule(B), [A, B]


class Runner:
    repeat = 2


class Bench:
    """A MeasureOption stand-in: config i costs `true[i]` ms per repeat; in the search a config may measure
    as `search[i]` instead (a lucky or unlucky moment); `spike[k]` multiplies the costs of the k-th
    measurement of the final re-measurement (counting every config of every round); `fail[(i, r)]` makes
    config i fail in round r of the final re-measurement."""

    runner = Runner()

    def __init__(self, true: dict[int, float], search: dict[int, float] | None = None,
                 spike: dict[int, float] | None = None, fail: set[tuple[int, int]] | frozenset = frozenset()):
        self.true, self.search = true, search or {}
        self.spike, self.fail = spike or {}, fail
        self.calls: list[tuple[list[int], int | None]] = []  # (config indices, repeat) per measure() call
        self.final_seen = 0
        self.final_round = -1

    def measure(self, inputs: list[tune.MeasureInput], repeat: int | None = None) -> list[tune.MeasureResult]:
        idx = [i.config.index for i in inputs]
        self.calls.append((idx, repeat))
        if repeat is None:  # the search
            return [tune.MeasureResult((self.search.get(i, self.true[i]) * 1e-3,) * self.runner.repeat,
                                       tune.MeasureErrorKind.NO_ERROR) for i in idx]
        self.final_round += 1
        out = []
        for i in idx:
            if (i, self.final_round) in self.fail:
                out.append(tune.MeasureResult((math.inf,), tune.MeasureErrorKind.RUNTIME_ERROR, "crashed"))
            else:
                c = self.true[i] * self.spike.get(self.final_seen, 1.0) * 1e-3
                out.append(tune.MeasureResult((c,) * repeat, tune.MeasureErrorKind.NO_ERROR))
            self.final_seen += 1
        return out

    def close(self) -> None:
        pass


@pytest.fixture
def task() -> tune.Task:
    return tune.create_task("test.final_choice", (64,))


def final_calls(bench: Bench) -> list[tuple[list[int], int | None]]:
    return [c for c in bench.calls if c[1] is not None]


def test_a_load_spike_in_one_round_does_not_decide(task: tune.Task) -> None:
    # the spike hits the first final measurement: the fastest config, timed first in round 0
    for rounds, want in ((1, 5), (3, 1)):  # one round: the spike decides (the test can fail); three: it does not
        bench = Bench(FAST, spike={0: 10.0})
        tuner = tune.GridSearchTuner(task)
        best = tuner.tune(8, bench, top_k=3, final_rounds=rounds)
        assert best is not None and best.index == want
        assert tuner.best_cost == pytest.approx(FAST[want] * 1e-3)


def test_finalists_are_interleaved_with_a_rotating_order(task: tune.Task) -> None:
    bench = Bench(FAST)
    tune.GridSearchTuner(task).tune(8, bench, top_k=3, final_repeat=6, final_rounds=3)
    # the top 3 of the search (1, 5, 2) -- the default (5) is among them, so it is not added again
    assert final_calls(bench) == [([1, 5, 2], 2), ([5, 2, 1], 2), ([2, 1, 5], 2)]


def test_the_default_is_re_measured_and_wins_over_a_lucky_search_measurement(task: tune.Task) -> None:
    # config 3 measured 0.5 ms in a quiet moment of the search, but runs 4 ms; the default (5, never measured
    # in the search) runs 1.1 ms, faster than the runner-up 2 (1.2 ms; config 1 is slowed to 2 ms here)
    true = {**FAST, 1: 2.0}
    bench = Bench(true, search={3: 0.5})
    tuner = tune.GridSearchTuner(task)
    tuner.visited.add(task.config_space.default().index)  # the search never proposes the default
    seen: list[tuple[list[int], list[tune.MeasureResult]]] = []
    tuner.tune(8, bench, top_k=2, final_rounds=2, callbacks=[
        lambda t, inputs, results: seen.append(([i.config.index for i in inputs], results))])
    assert [c[0] for c in final_calls(bench)] == [[3, 2, 5], [2, 5, 3]]  # the top 2, then the default
    assert tuner.best_config is not None and tuner.best_config.index == 5
    assert tuner.best_cost == pytest.approx(1.1e-3)
    # what the search alone found stays known (a benchmark reports it next to the tuner's choice)
    assert tuner.search_best_config is not None and tuner.search_best_config.index == 3
    assert tuner.search_best_cost == pytest.approx(0.5e-3)
    idx, results = seen[-1]  # one result per finalist, holding all its repeats (3 x the runner's, 2 rounds)
    assert idx == [3, 2, 5] and [len(r.costs) for r in results] == [6, 6, 6]
    # every finalist's re-measured cost, the default's included, for reports that compare them
    assert tuner.final_costs == pytest.approx({3: 4.0e-3, 2: 1.2e-3, 5: 1.1e-3})


def test_a_finalist_that_fails_in_a_later_round_is_dropped(task: tune.Task) -> None:
    bench = Bench(FAST, fail={(1, 1)})
    tuner = tune.GridSearchTuner(task)
    tuner.tune(8, bench, top_k=3, final_rounds=3)
    assert tuner.best_config is not None and tuner.best_config.index == 5
    assert final_calls(bench)[2][0] == [2, 5]  # not measured again after its failure


def test_remeasure_interleaved_merges_the_rounds(task: tune.Task) -> None:
    bench = Bench(FAST, spike={1: 3.0})
    inputs = [tune.MeasureInput(task, task.config_space.get(i)) for i in (2, 4)]
    results = remeasure_interleaved(bench, inputs, rounds=3, repeat=1)  # type: ignore[arg-type]
    assert [r.costs for r in results] == [pytest.approx((1.2e-3,) * 3),
                                          pytest.approx((9e-3, 3e-3, 3e-3))]  # round 0: 2 then 4 (spiked)
    assert results[1].cost == pytest.approx(3e-3)  # the median ignores the spike


def test_top_k_below_two_keeps_the_search_measurements(task: tune.Task) -> None:
    bench = Bench(FAST)
    tuner = tune.GridSearchTuner(task)
    assert tuner.tune(8, bench, top_k=1).index == 1  # type: ignore[union-attr]
    assert final_calls(bench) == []


def test_the_log_ranks_configs_by_the_re_measurement(task: tune.Task, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    bench = Bench({**FAST, 1: 2.0}, search={1: 0.9})  # 1 looked fastest in the search, 5 is faster
    tuner = tune.GridSearchTuner(task)
    tuner.tune(8, bench, top_k=3, final_rounds=3, callbacks=[tune.callback.log_to_file(log)])
    assert tuner.best_config is not None and tuner.best_config.index == 5
    (best,) = tune.record.pick_best(tune.load_records(log)).values()
    assert best.config == tuner.best_config.to_json() and len(best.costs) == 6


def test_final_rounds_must_be_positive(task: tune.Task) -> None:
    with pytest.raises(TuneError, match="final_rounds"):
        tune.GridSearchTuner(task).tune(8, Bench(FAST), final_rounds=0)


def test_a_search_measurement_faster_than_the_re_measurement_joins_a_second_pass(task: tune.Task,
                                                                                 tmp_path: Path) -> None:
    # the machine is 1.5x slower during the first pass (2 finalists x 3 rounds): config 2's search cost (1.2 ms)
    # beats the chosen config's re-measured 1.5 ms, so the log would name 2 unless it is re-measured too
    log = tmp_path / "log.jsonl"
    bench = Bench(FAST, spike=dict.fromkeys(range(6), 1.5))
    tuner = tune.GridSearchTuner(task)
    tuner.tune(8, bench, top_k=2, final_rounds=3, callbacks=[tune.callback.log_to_file(log)])
    assert [c[0] for c in final_calls(bench)] == [[1, 5], [5, 1], [1, 5], [1, 5, 2], [5, 2, 1], [2, 1, 5]]
    assert tuner.best_config is not None and tuner.best_config.index == 1
    assert tuner.best_cost == pytest.approx(1e-3)
    (best,) = tune.record.pick_best(tune.load_records(log)).values()
    assert best.config == tuner.best_config.to_json()


def test_the_extra_passes_are_bounded(task: tune.Task) -> None:
    # every re-measurement runs 10x slower than the search: each pass pulls in more configs, up to the limit
    bench = Bench(FAST, spike=dict.fromkeys(range(1000), 10.0))
    tuner = tune.GridSearchTuner(task)
    tuner.tune(8, bench, top_k=2, final_rounds=1)
    assert [c[0] for c in final_calls(bench)] == [[1, 5], [1, 5, 2, 4], [1, 5, 2, 4, 3, 0]]
    assert tuner.best_config is not None and tuner.best_config.index == 1
