"""schedule_default picks a real CPU schedule (parallel, vectorized, register tiles), not a naive loop nest."""

from __future__ import annotations

import numpy as np

import tex
from tests.ops.helpers import check
from tex import ops


def lowered(out: tex.Tensor, args: list[tex.Tensor]) -> str:
    return str(tex.lower(ops.schedule_default(out), [*args, out]))


def test_injective_chain_is_inlined_parallel_and_vectorized() -> None:
    a, b = tex.placeholder((256, 300), name="a"), tex.placeholder((300,), name="b")
    text = lowered(ops.relu(ops.add(ops.exp(a), b)), [a, b])
    assert "# parallel" in text and "# vectorized" in text
    assert "allocate" not in text  # exp and add are inlined into relu


def test_matmul_gets_a_register_tile() -> None:
    a, b = tex.placeholder((64, 64), name="a"), tex.placeholder((64, 64), name="b")
    text = lowered(ops.matmul(a, b), [a, b])
    assert "# parallel" in text and "# vectorized" in text and "# unrolled" in text


def test_conv_pads_in_its_own_pass() -> None:
    x, w = tex.placeholder((1, 16, 20, 20), name="x"), tex.placeholder((16, 16, 3, 3), name="w")
    text = lowered(ops.conv2d_nchw(x, w, padding=1), [x, w])
    assert "pad = allocate" in text and "# vectorized" in text and "# parallel" in text


def test_small_kernels_stay_serial() -> None:
    a = tex.placeholder((4, 5), name="a")
    assert "parallel" not in lowered(ops.exp(a), [a])


def test_default_on_larger_shapes_matches_numpy() -> None:
    a, b = tex.placeholder((70, 130), name="a"), tex.placeholder((130, 45), name="b")
    check("default", [a, b], ops.matmul(a, b), np.matmul, rtol=1e-4, atol=1e-4)
    x = tex.placeholder((64, 1000), name="x")
    check("default", [x], ops.softmax(x), lambda v: np.exp(v) / np.exp(v).sum(-1, keepdims=True), atol=1e-7)
