"""Per-channel scale/shift after a Conv folded into its weights and bias (passes/fold_scale.py)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Net, ort_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tex
from tex.onnx_import import load
from tex.onnx_import.passes import fold_batchnorm, fold_scale_shift


def _check(m: object) -> tex.onnx_import.Executor:
    exe = tex.compile(m)
    x = np.random.default_rng(1).standard_normal(exe.plan.inputs[0].shape).astype(np.float32)
    want = ort_run(m, {"x": x})[0]
    got = exe.run({"x": x})[exe.output_names[0]]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    return exe


def test_mul_add_relu_after_conv_is_one_kernel() -> None:
    n = Net((1, 8, 9, 9))
    c = n.conv("x", 8, 16)
    y = n.op("Relu", n.op("Add", n.op("Mul", c, n.const(n.rng.uniform(0.5, 2, (16, 1, 1)))),
                          n.const(n.rng.standard_normal((1, 16, 1, 1)))))
    m = n.model(y)
    g = fold_scale_shift(load(m))
    assert g.op_counts() == {"Conv": 1, "Relu": 1}
    exe = _check(m)
    assert len(exe.plan.kernels) == 1


@pytest.mark.parametrize("op", ["Mul", "Div", "Add", "Sub"])
@pytest.mark.parametrize("shape", [(), (16, 1, 1), (1, 16, 1, 1), (1,)])
def test_each_op_and_broadcast_shape_folds(op: str, shape: tuple[int, ...]) -> None:
    n = Net((1, 4, 6, 6))
    c = n.conv("x", 4, 16, k=1, pad=0)
    m = n.model(n.op(op, c, n.const(n.rng.uniform(0.5, 2, shape))))
    assert load(m).op_counts() != fold_scale_shift(load(m)).op_counts()
    _check(m)


@pytest.mark.parametrize("case", ["spatial", "reversed_sub", "reversed_div", "two_users", "computed"])
def test_what_does_not_fold_stays_and_is_right(case: str) -> None:
    n = Net((1, 4, 6, 6))
    c = n.conv("x", 4, 8)
    if case == "spatial":
        y = n.op("Mul", c, n.const(n.rng.standard_normal((1, 1, 6, 1))))
    elif case == "reversed_sub":
        y = n.op("Sub", n.const(n.rng.standard_normal((8, 1, 1))), c)
    elif case == "reversed_div":
        y = n.op("Div", n.const(n.rng.uniform(0.5, 2, (8, 1, 1))), c)
    elif case == "two_users":
        y = n.op("Add", n.op("Mul", c, n.const(np.array(2.0))), c)
    else:
        y = n.op("Mul", c, n.op("Relu", c))
    m = n.model(y)
    assert "Conv" in fold_scale_shift(load(m)).op_counts()
    assert sum(fold_scale_shift(load(m)).op_counts().values()) == sum(load(m).op_counts().values())
    _check(m)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.sampled_from(["Mul", "Div", "Add", "Sub"]), min_size=1, max_size=4),
       cout=st.sampled_from([3, 8, 12]), per_channel=st.booleans(), seed=st.integers(0, 99))
def test_random_chains_fold_and_match_onnxruntime(ops: list[str], cout: int, per_channel: bool, seed: int) -> None:
    n = Net((1, 5, 7, 7), seed)
    y = n.conv("x", 5, cout)
    for op in ops:
        y = n.op(op, y, n.const(n.rng.uniform(0.5, 2, (cout, 1, 1) if per_channel else ())))
    m = n.model(y)
    assert fold_scale_shift(load(m)).op_counts() == {"Conv": 1}
    _check(m)


def test_standalone_batchnorm_becomes_scale_shift_and_stays_blocked() -> None:
    """DenseNet's pre-activation BN (after a Concat, not a Conv): Mul + Add that fold into the next kernels."""
    n = Net((1, 8, 7, 7))
    cat = n.op("Concat", n.conv("x", 8, 8), n.conv("x", 8, 16), axis=1)
    stats = [n.const(v) for v in (n.rng.uniform(0.5, 2, 24), n.rng.standard_normal(24), n.rng.standard_normal(24),
                                  n.rng.uniform(0.5, 2, 24))]
    y = n.op("Relu", n.op("BatchNormalization", cat, *stats, epsilon=1e-3))
    m = n.model(n.conv(y, 24, 8))
    g = fold_batchnorm(load(m))
    assert "BatchNormalization" not in g.op_counts() and g.op_counts()["Mul"] == 1
    exe = _check(m)
    bn = next(x for x in exe.graph.nodes if "Mul" in [m.op_type for m in x.members])
    assert len(exe.graph.types[bn.outputs[0]][0]) == 5  # carried in the convs' blocked layout
