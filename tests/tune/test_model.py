"""Loop-IR features and the XGBoost cost model (ranking, transfer learning)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tex
from tests.tune import templates  # noqa: F401
from tex import tune
from tex.tune import feature
from tex.tune.cost_model import XGBoostCostModel
from tex.tune.record import Record


def gemm_features(n: int, order: str) -> np.ndarray:
    A = tex.placeholder((n, n), name="A")
    B = tex.placeholder((n, n), name="B")
    k = tex.reduce_axis((0, n), name="k")
    C = tex.compute((n, n), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    i, j = C.op.axis
    if order == "ikj":
        s[C].reorder(i, k, j)
    return feature.extract(tex.lower(s, [A, B, C]))


def test_feature_vector_shape_and_strides() -> None:
    ijk, ikj = gemm_features(32, "ijk"), gemm_features(32, "ikj")
    assert ijk.shape == ikj.shape == (feature.LENGTH,)
    # The update C[i, j] = C[i, j] + A[i, k] * B[k, j] runs most often; accesses: C (store), C, A, B.
    def stride(vec: np.ndarray, loop: int, access: int) -> float:
        return float(vec[loop * feature.PER_LOOP + 6 + access * feature.PER_ACCESS])

    lg = lambda x: math.log2(1 + x)  # noqa: E731
    assert stride(ijk, 0, 2) == pytest.approx(lg(1))    # innermost k: A moves by 1
    assert stride(ijk, 0, 3) == pytest.approx(lg(32))   # B moves by a row
    assert stride(ijk, 0, 0) == 0.0                     # C does not move with k
    assert stride(ikj, 0, 3) == pytest.approx(lg(1))    # innermost j: B moves by 1
    assert stride(ikj, 0, 2) == 0.0                     # A does not move with j
    assert not np.array_equal(ijk, ikj)


def synthetic_costs(task: tune.Task) -> tuple[list[tune.Config], list[float]]:
    configs = list(task.config_space)
    costs = [1e-3 * (1 + abs(math.log2(c.value("tile_i")[1]) - 3)) * (1 if c.value("vec") else 3) for c in configs]
    return configs, costs


@pytest.mark.parametrize("feature_type", ["itervar", "knob", "both"])
def test_model_learns_a_ranking(feature_type: str) -> None:
    task = tune.create_task("test.matmul", (256, 64, 16))
    configs, costs = synthetic_costs(task)
    rng = np.random.default_rng(0)
    train = rng.permutation(len(configs))[:30]
    model = XGBoostCostModel(task, feature_type=feature_type, seed=0)
    model.fit([configs[i] for i in train], [costs[i] for i in train])
    pred = model.predict(configs)
    # Spearman rank correlation between predicted score and true speed (1 / cost), over the whole space
    r_pred, r_true = np.argsort(np.argsort(pred)), np.argsort(np.argsort(-np.array(costs)))
    rho = np.corrcoef(r_pred, r_true)[0, 1]
    assert rho > 0.7, rho


def test_transfer_learning_from_another_task() -> None:
    src = tune.create_task("test.matmul", (128, 64, 16))
    configs, costs = synthetic_costs(src)
    records = [Record(src.name, src.args, "llvm", src.target.fingerprint(), src.config_space.version(), c.to_json(),
                      (cost,)) for c, cost in zip(configs, costs, strict=True)]
    dst = tune.create_task("test.matmul", (512, 64, 16))
    model = XGBoostCostModel(dst, seed=0)
    model.fit_log(records)
    dconfigs, dcosts = synthetic_costs(dst)
    pred = model.predict(dconfigs)
    best_pred = dconfigs[int(np.argmax(pred))]
    assert dcosts[dconfigs.index(best_pred)] <= 2 * min(dcosts)  # a good config before measuring anything
    tuner = tune.XGBTuner(dst, seed=0)
    tuner.load_history(records)
    assert tuner.plan, "a warm-started tuner plans from the model at once"
    with pytest.raises(tex.TuneError, match="transfer learning needs feature_type='itervar'"):
        XGBoostCostModel(dst, feature_type="knob").fit_log(records)


def test_model_options_are_checked() -> None:
    task = tune.create_task("test.matmul", (64, 64, 16))
    with pytest.raises(tex.TuneError, match="feature_type"):
        XGBoostCostModel(task, feature_type="curve")
    with pytest.raises(tex.TuneError, match="loss_type"):
        XGBoostCostModel(task, loss_type="huber")
