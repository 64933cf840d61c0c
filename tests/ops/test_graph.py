"""Whole small networks built from tex.ops, one kernel each, under every schedule of helpers.SCHEDULES."""

from __future__ import annotations

import numpy as np
import pytest

import tex
from tests.ops.helpers import SCHEDULES, check
from tests.ops.reference import np_conv2d, np_softmax
from tex import ops


@pytest.mark.parametrize("kind", SCHEDULES)
def test_small_cnn(kind: str) -> None:
    """conv(3x3, pad 1) + bias + relu -> max_pool(2) -> flatten -> dense + bias -> softmax."""
    x = tex.placeholder((2, 3, 8, 8), name="x")
    w = tex.placeholder((4, 3, 3, 3), name="w")
    b = tex.placeholder((4, 1, 1), name="b")
    fw = tex.placeholder((10, 64), name="fw")
    fb = tex.placeholder((10,), name="fb")
    h = ops.relu(ops.add(ops.conv2d_nchw(x, w, padding=1), b))
    h = ops.flatten(ops.max_pool2d(h, 2))
    out = ops.softmax(ops.dense(h, fw, fb))

    def ref(dx: np.ndarray, dw: np.ndarray, db: np.ndarray, dfw: np.ndarray, dfb: np.ndarray) -> np.ndarray:
        a = np.maximum(np_conv2d(dx, dw, (1, 1), (1, 1, 1, 1), (1, 1)) + db, 0)
        a = a.reshape(2, 4, 4, 2, 4, 2).max(axis=(3, 5)).reshape(2, -1)
        return np_softmax(a @ dfw.T + dfb, -1)

    check(kind, [x, w, b, fw, fb], out, ref, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_transformer_block_pieces(kind: str) -> None:
    """layer_norm -> q, k projections -> scaled scores -> softmax -> weighted sum, batched."""
    x = tex.placeholder((2, 5, 8), name="x")
    g, bt = tex.placeholder((8,), name="g"), tex.placeholder((8,), name="bt")
    wq, wk = tex.placeholder((8, 8), name="wq"), tex.placeholder((8, 8), name="wk")
    n = ops.layer_norm(x, g, bt)
    q, k = ops.matmul(n, wq), ops.matmul(n, wk)
    scores = ops.softmax(ops.multiply(ops.batch_matmul(q, k, transpose_b=True), 1 / np.sqrt(8)), -1)
    out = ops.batch_matmul(scores, n)

    def ref(dx: np.ndarray, dg: np.ndarray, db: np.ndarray, dq: np.ndarray, dk: np.ndarray) -> np.ndarray:
        mu = dx.mean(-1, keepdims=True)
        nn = (dx - mu) / np.sqrt(dx.var(-1, keepdims=True) + 1e-5) * dg + db
        s = np_softmax((nn @ dq) @ (nn @ dk).transpose(0, 2, 1) / np.sqrt(8), -1)
        return s @ nn

    check(kind, [x, g, bt, wq, wk], out, ref, rtol=1e-4, atol=1e-5)
