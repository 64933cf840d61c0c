"""Config spaces, knobs and templates: definitions, JSON round trips, errors."""

from __future__ import annotations

import json

import pytest

import tex
from tests.tune import templates
from tex import tune
from tex.tune.space import factorizations


def test_factorizations_cover_divisors_and_power2() -> None:
    assert factorizations(12, 2) == [(12, 1), (6, 2), (4, 3), (3, 4), (2, 6), (1, 12)]
    three = factorizations(8, 3)
    assert all(a * b * c == 8 for a, b, c in three) and len(three) == 10
    assert factorizations(10, 2, "power2") == [(10, 1), (5, 2), (3, 4), (2, 8)]  # outer = ceil: tails allowed


def test_space_of_a_template() -> None:
    task = tune.create_task("test.matmul", (32, 48, 16))
    space = task.config_space
    assert len(space) == 6 * 3 * 2  # power2 splits of 32, three candidates, two knob values
    assert "tile_i (split)" in str(space) and "ConfigSpace of 36 configs" in str(space)
    assert space.default().value("vec") is True
    assert task.flop == 2 * 32 * 48 * 16


def test_config_json_round_trip_and_index() -> None:
    space = tune.create_task("test.matmul", (32, 48, 16)).config_space
    for idx in (0, 7, len(space) - 1):
        cfg = space.get(idx)
        again = space.from_json(json.loads(json.dumps(cfg.to_json())))
        assert again.index == idx and again.to_json() == cfg.to_json()
    with pytest.raises(tex.TuneError, match="outside the space"):
        space.get(len(space))
    with pytest.raises(tex.TuneError, match="lacks knobs"):
        space.from_json({"vec": True})
    with pytest.raises(tex.TuneError, match="not one of its"):
        space.from_json({**space.default().to_json(), "tile_j": [1, 5]})


def test_template_called_directly_uses_default_and_builds() -> None:
    import numpy as np

    s, args = templates.matmul(16, 16, 8)
    f = tex.build(s, args)
    a, b, c = np.ones((16, 8), np.float32), np.ones((8, 16), np.float32), np.zeros((16, 16), np.float32)
    f(a, b, c)
    np.testing.assert_array_equal(c, a @ b)


def test_knob_definition_errors() -> None:
    @tune.template("test.bad_split")
    def bad(n: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
        A = tex.placeholder((n,), name="A")
        B = tex.compute((n,), lambda i: A[i] + 1, name="B")
        cfg = tune.get_config()
        cfg.define_split("t", B.op.axis[0], num_outputs=5)
        return tex.create_schedule(B), [A, B]

    with pytest.raises(tex.TuneError, match="num_outputs must be 2, 3 or 4"):
        _ = tune.create_task("test.bad_split", (8,)).config_space
    with pytest.raises(tex.TuneError, match=r"no tuning template named .nope.*known:.*test.matmul"):
        tune.create_task("nope", ())
    with pytest.raises(tex.TuneError, match="only valid inside"):
        tune.get_config()


def test_split_reorder_annotate_apply() -> None:
    @tune.template("test.knobs")
    def knobs(n: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
        A = tex.placeholder((n, n), name="A")
        B = tex.compute((n, n), lambda i, j: A[i, j] * 2, name="B")
        s = tex.create_schedule(B)
        cfg = tune.get_config()
        i, j = B.op.axis
        cfg.define_split("sp", i, num_outputs=3, policy="factors")
        cfg.define_reorder("ro", [i, j], policy="all")
        cfg.define_annotate("an", [j], policy="try_vec")
        axes = cfg["sp"].apply(s, B, i)
        assert len(axes) == 3
        cfg["an"].apply(s, B, [j])
        return s, [A, B]

    import numpy as np

    task = tune.create_task("test.knobs", (12,))
    assert len(task.config_space) == 18 * 2 * 2
    for idx in range(0, len(task.config_space), 7):
        s, args = task.instantiate(task.config_space.get(idx))
        f = tex.build(s, args)
        a = np.arange(144, dtype=np.float32).reshape(12, 12)
        b = np.zeros_like(a)
        f(a, b)
        np.testing.assert_array_equal(b, a * 2)
