"""A short tuning run of the OpenCL matmul template on the CI device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tex import tune
from tex.driver import build
from tex.ops.opencl.matmul import matmul_opencl
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")


def test_default_config_is_correct() -> None:
    s, args = matmul_opencl(37, 45, 29, "float32")
    f = build(s, args, target="opencl")
    rng = np.random.default_rng(1)
    a, b = rng.random((37, 29), dtype=np.float32), rng.random((29, 45), dtype=np.float32)
    c = np.zeros((37, 45), np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)


def test_short_tuning_run(tmp_path: Path) -> None:
    task = tune.create_task("matmul_opencl", (64, 64, 64, "float32"), target="opencl")
    assert len(task.config_space) == 4 * 4 * 5 * 5 * 4 * 4 * 2
    log = tmp_path / "mm.jsonl"
    opt = tune.measure_option(builder=tune.LocalBuilder(n_parallel=1), runner=tune.LocalRunner(number=2, repeat=1))
    try:
        tune.RandomTuner(task, seed=0).tune(2, opt, callbacks=[tune.callback.log_to_file(str(log))])
    finally:
        opt.close()
    records = tune.load_records(str(log))
    assert len(records) >= 2  # a batch may overshoot n_trial
    ok = [r for r in records if r.error == "NO_ERROR"]
    assert ok and all(r.target == "opencl" and np.isfinite(r.costs[0]) and r.costs[0] > 0 for r in ok)
    assert len(tune.pick_best(records)) == 1


def test_random_configs_are_correct() -> None:
    task = tune.create_task("matmul_opencl", (37, 45, 29, "float32"), target="opencl")
    rng = np.random.default_rng(3)
    a, b = rng.random((37, 29), dtype=np.float32), rng.random((29, 45), dtype=np.float32)
    for index in rng.choice(len(task.config_space), size=4, replace=False):
        cfg = task.config_space.get(int(index))
        s, args = task.instantiate(cfg)
        f = build(s, args, target="opencl")
        c = np.zeros((37, 45), np.float32)
        f(a, b, c)
        np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5, err_msg=str(cfg))
