"""Measurement in worker processes: crashes, hangs, wrong answers and invalid configs become error records."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from tests.tune import templates  # noqa: F401
from tex import tune
from tex.tune import MeasureErrorKind as K


@pytest.fixture(scope="module")
def mo() -> Iterator[tune.MeasureOption]:
    option = tune.measure_option(tune.LocalBuilder(n_parallel=2, timeout=30),
                                 tune.LocalRunner(number=2, repeat=2, timeout=8))
    yield option
    option.close()


def measure(mo: tune.MeasureOption, mode: str) -> tune.MeasureResult:
    task = tune.create_task("test.faulty", (64,))
    cfg = task.config_space.from_json({"mode": mode})
    return mo.measure([tune.MeasureInput(task, cfg)])[0]


def test_ok_config_is_timed(mo: tune.MeasureOption) -> None:
    r = measure(mo, "ok")
    assert r.ok, r.error_msg
    assert len(r.costs) == 2 and all(0 < c < 0.1 for c in r.costs)


def test_cache_flushing_runner_times_configs() -> None:
    """LocalRunner(cache_flush=True) (what `tex tune model.onnx` uses) times a config with its buffers evicted
    before each call, in the worker; a wrong answer is still caught."""
    option = tune.measure_option(tune.LocalBuilder(n_parallel=1, timeout=30),
                                 tune.LocalRunner(number=2, repeat=3, timeout=8, cache_flush=True))
    try:
        task = tune.create_task("test.faulty", (64,))
        ok, wrong = option.measure([tune.MeasureInput(task, task.config_space.from_json({"mode": m}))
                                    for m in ("ok", "wrong")])
        assert ok.ok, ok.error_msg
        assert len(ok.costs) == 3 and all(0 < c < 0.1 for c in ok.costs)
        assert wrong.error_kind is K.WRONG_ANSWER
    finally:
        option.close()


@pytest.mark.parametrize(("mode", "kind", "msg"), [
    ("crash", K.RUNTIME_ERROR, "worker process died"),
    ("wrong", K.WRONG_ANSWER, "output 'B' differs from the reference"),
    ("invalid", K.INSTANTIATION_ERROR, "factor must be a positive int"),
])
def test_failures_become_records(mo: tune.MeasureOption, mode: str, kind: K, msg: str) -> None:
    r = measure(mo, mode)
    assert r.error_kind is kind
    assert msg in r.error_msg
    assert r.cost == math.inf
    assert measure(mo, "ok").ok  # and the next measurement works: the worker was replaced


def test_hang_times_out_and_tuning_goes_on() -> None:
    option = tune.measure_option(tune.LocalBuilder(n_parallel=1, timeout=3),
                                 tune.LocalRunner(number=1, repeat=1, timeout=3))
    try:
        task = tune.create_task("test.faulty", (64,))
        tuner = tune.GridSearchTuner(task)
        tuner.tune(5, option)
        # "invalid" is refused when instantiated, without a trial; crash, hang and wrong are measured errors
        assert tuner.trials == 4 and tuner.errors == 3 and tuner.refused == 1
        assert tuner.best_config is not None and tuner.best_config.value("mode") == "ok"
    finally:
        option.close()


def test_a_script_that_tunes_at_import_does_not_recurse() -> None:
    from tests.tune import unguarded_script

    (r,) = unguarded_script.RESULTS
    assert not r.ok
    assert "put that code under `if __name__ == \"__main__\":`" in r.error_msg
