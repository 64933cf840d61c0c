"""Injective transforms (transpose, reshape, concatenate, slices, gather) and reductions against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tex
from tests.ops.helpers import SCHEDULES, check, rand
from tests.ops.reference import np_softmax
from tex import ops


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 0, 1), (0, 2, 1), None])
def test_transpose(perm: tuple[int, ...] | None, kind: str) -> None:
    x = tex.placeholder((3, 7, 10), name="x")
    check(kind, [x], ops.transpose(x, perm), lambda a: np.transpose(a, perm))


@pytest.mark.parametrize("kind", SCHEDULES)
def test_transpose_feeding_an_elementwise_op(kind: str) -> None:
    x, y = tex.placeholder((6, 11), name="x"), tex.placeholder((11, 6), name="y")
    check(kind, [x, y], ops.multiply(ops.transpose(x), y), lambda a, b: a.T * b)


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis: int, kind: str) -> None:
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for k, n in enumerate((5, 1, 3)):
        shapes[k][axis] = n
    xs = [tex.placeholder(tuple(s), name=f"x{k}") for k, s in enumerate(shapes)]
    check(kind, xs, ops.concatenate(xs, axis), lambda *a: np.concatenate(a, axis))


@pytest.mark.parametrize("kind", SCHEDULES)
def test_concatenate_mixed_dtypes_and_split(kind: str) -> None:
    a = tex.placeholder((4, 3), dtype="int32", name="a")
    b = tex.placeholder((4, 5), dtype="float32", name="b")
    cat = ops.concatenate([a, b], axis=1)
    assert cat.dtype == "float32"
    parts = ops.split(cat, [2, 4, 2], axis=1)
    check(kind, [a, b], [ops.identity(p, name=f"part{k}") for k, p in enumerate(parts)],
          lambda x, y: np.split(np.concatenate([x.astype(np.float32), y], 1), [2, 6], axis=1))


@pytest.mark.parametrize("kind", SCHEDULES)
def test_reshape_flatten_squeeze_expand(kind: str) -> None:
    x = tex.placeholder((2, 3, 1, 4), name="x")
    check(kind, [x], ops.reshape(x, (4, -1)), lambda a: a.reshape(4, -1))
    check(kind, [x], ops.flatten(x), lambda a: a.reshape(2, -1))
    check(kind, [x], ops.flatten(x, 3), lambda a: a.reshape(6, 4))
    check(kind, [x], ops.squeeze(x), lambda a: a.squeeze())
    check(kind, [x], ops.expand_dims(ops.squeeze(x, 2), 0, 2), lambda a: a.squeeze(2)[None, None])
    check(kind, [x], ops.broadcast_to(x, (3, 2, 3, 5, 4)), lambda a: np.broadcast_to(a, (3, 2, 3, 5, 4)))


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("sl", [((1, 0), (5, 9), (2, 3), None), ((-1,), (-9,), (-2,), (1,)),
                                ((0, 8), (100, -100), (1, -3), (0, 2)), ((7,), (2,), (1,), (0,))])
def test_strided_slice(sl: tuple, kind: str) -> None:
    begin, end, strides, axes = sl
    x = tex.placeholder((6, 10, 9), name="x")
    index = [slice(None)] * 3
    for b, e, s, a in zip(begin, end, strides, axes or range(len(begin))):
        index[a] = slice(b, e, s)
    check(kind, [x], ops.add(ops.strided_slice(x, begin, end, strides, axes), 1.0), lambda a: a[tuple(index)] + 1)


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("axis", [0, 1])
def test_take(axis: int, kind: str) -> None:
    x = tex.placeholder((5, 6), name="x")
    idx = tex.placeholder((2, 3), dtype="int64", name="idx")
    data = [rand((5, 6)), np.array([[0, 4, -1], [2, 2, -5]], dtype=np.int64)]
    check(kind, [x, idx], ops.take(x, idx, axis), lambda a, i: np.take(a, i, axis), data=data)


def test_take_clamps_out_of_range_indices() -> None:
    x, idx = tex.placeholder((4,), name="x"), tex.placeholder((3,), dtype="int32", name="idx")
    check("default", [x, idx], ops.take(x, idx), lambda a, i: a[[3, 0, 3]],
          data=[rand((4,)), np.array([1000, -1000, 3], dtype=np.int32)])


REDUCERS = {
    "sum": (ops.reduce_sum, np.sum),
    "mean": (ops.reduce_mean, np.mean),
    "max": (ops.reduce_max, np.max),
    "min": (ops.reduce_min, np.min),
    "prod": (ops.reduce_prod, np.prod),
}


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("name", sorted(REDUCERS))
@pytest.mark.parametrize("axes,keepdims", [((0, 2), False), ((1,), True), ((1, 3), True), (None, False),
                                           ((-1,), False)])
def test_reductions_over_several_axes(name: str, axes: tuple[int, ...] | None, keepdims: bool, kind: str) -> None:
    op, ref = REDUCERS[name]
    x = tex.placeholder((3, 7, 4, 10), name="x")
    data = [rand((3, 7, 4, 10), lo=0.6, hi=1.4)]  # keeps products near 1
    check(kind, [x], op(x, axes, keepdims), lambda a: ref(a, axis=axes, keepdims=keepdims), data=data,
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_reduce_int8_and_float16(kind: str) -> None:
    x = tex.placeholder((5, 33), dtype="int8", name="x")
    check(kind, [x], ops.reduce_max(x, 1), lambda a: a.max(1))
    check(kind, [x], ops.reduce_sum(ops.cast(x, "int32"), 0), lambda a: a.astype(np.int32).sum(0))
    h = tex.placeholder((4, 300), dtype="float16", name="h")
    check(kind, [h], ops.reduce_sum(h, 1), lambda a: a.astype(np.float32).sum(1).astype(np.float16),
          rtol=2e-3, atol=2e-2)
    check(kind, [h], ops.reduce_mean(h, 1, True), lambda a: a.astype(np.float32).mean(1, keepdims=True)
          .astype(np.float16), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_reduction_of_an_elementwise_expression(kind: str) -> None:
    x, y = tex.placeholder((6, 17), name="x"), tex.placeholder((17,), name="y")
    out = ops.reduce_sum(ops.multiply(ops.exp(x), y), axes=1, keepdims=True)
    check(kind, [x, y], out, lambda a, b: (np.exp(a) * b).sum(1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("explicit", [False, True])
def test_symbolic_intermediates_at_the_root(explicit: bool) -> None:
    # regression: lowering refused to size a root intermediate by a shape variable that is not passed explicitly
    n = tex.var("n")
    x, y = tex.placeholder((n, 5), name="x"), tex.placeholder((5,), name="y")
    out = ops.softmax(ops.multiply(x, y), axis=-1)
    f = tex.build(tex.create_schedule(out), [x, y, out, n] if explicit else [x, y, out])
    for rows in (1, 9):
        dx, dy = rand((rows, 5)), rand((5,))
        got = np.full((rows, 5), np.nan, np.float32)
        f(dx, dy, got, rows)
        np.testing.assert_allclose(got, np_softmax(dx * dy, -1), rtol=1e-5, atol=1e-6)
