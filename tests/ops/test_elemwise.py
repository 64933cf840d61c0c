"""Elementwise and broadcasting operators of tex.ops against numpy, under every schedule of helpers.SCHEDULES."""

from __future__ import annotations

import numpy as np
import pytest

import tex
from tests.ops.helpers import SCHEDULES, check, rand
from tex import ops

UNARY = {
    "negative": (ops.negative, np.negative),
    "abs": (ops.abs, np.abs),
    "exp": (ops.exp, np.exp),
    "tanh": (ops.tanh, np.tanh),
    "sigmoid": (ops.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "relu": (ops.relu, lambda x: np.maximum(x, 0)),
    "floor": (ops.floor, np.floor),
    "ceil": (ops.ceil, np.ceil),
    "round": (ops.round, np.round),
    "leaky_relu": (lambda x: ops.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "clip": (lambda x: ops.clip(x, -0.5, 0.25), lambda x: np.clip(x, -0.5, 0.25)),
}
POSITIVE = {
    "log": (ops.log, np.log),
    "sqrt": (ops.sqrt, np.sqrt),
    "rsqrt": (ops.rsqrt, lambda x: 1 / np.sqrt(x)),
}


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name: str, kind: str) -> None:
    op, ref = UNARY[name]
    x = tex.placeholder((5, 37), name="x")
    check(kind, [x], op(x), ref, data=[rand((5, 37), lo=-3, hi=3)], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(POSITIVE))
def test_unary_positive(name: str) -> None:
    op, ref = POSITIVE[name]
    x = tex.placeholder((3, 19), name="x")
    for kind in ("default", "stress_inline"):
        check(kind, [x], op(x), ref, data=[rand((3, 19), lo=0.1, hi=4)])


def test_erf() -> None:
    from math import erf

    x = tex.placeholder((41,), name="x")
    check("stress_inline", [x], ops.erf(x), np.vectorize(erf), data=[rand((41,), lo=-3, hi=3)], atol=1e-6)


BINARY = {
    "add": (ops.add, np.add),
    "subtract": (ops.subtract, np.subtract),
    "multiply": (ops.multiply, np.multiply),
    "divide": (ops.divide, np.divide),
    "maximum": (ops.maximum, np.maximum),
    "minimum": (ops.minimum, np.minimum),
    "power": (ops.power, np.power),
    "equal": (ops.equal, np.equal),
    "less": (ops.less, np.less),
    "greater": (ops.greater, np.greater),
}
SHAPES = [((4, 1, 9), (3, 1)), ((17,), (2, 17)), ((2, 3, 5), (2, 3, 5)), ((1,), (6, 1, 11))]


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcast(name: str, kind: str) -> None:
    op, ref = BINARY[name]
    for sa, sb in SHAPES:
        a, b = tex.placeholder(sa, name="a"), tex.placeholder(sb, name="b")
        da, db = rand(sa, lo=0.5, hi=2.0), rand(sb, lo=-1.5, hi=1.5)
        if name == "equal":  # make some elements equal
            db = np.where(rand(sb) > 0, db, np.broadcast_to(da.reshape(-1)[0], sb)).astype(np.float32)
        check(kind, [a, b], op(a, b), ref, data=[da, db], rtol=1e-5)


def test_binary_scalar_operands() -> None:
    x = tex.placeholder((3, 10), name="x")
    check("default", [x], ops.add(ops.multiply(x, 2.0), 1), lambda a: a * 2 + 1)
    check("stress_at", [x], ops.subtract(1.5, x), lambda a: 1.5 - a)
    check("stress_inline", [x], ops.divide(1, ops.add(x, 3)), lambda a: 1 / (a + 3))


@pytest.mark.parametrize("kind", SCHEDULES)
def test_where_three_way_broadcast(kind: str) -> None:
    c = tex.placeholder((4, 1), dtype="bool", name="c")
    a = tex.placeholder((1, 7), name="a")
    b = tex.placeholder((3, 4, 7), name="b")
    check(kind, [c, a, b], ops.where(c, a, b), np.where)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_float16_elementwise(kind: str) -> None:
    a = tex.placeholder((6, 35), dtype="float16", name="a")
    b = tex.placeholder((35,), dtype="float16", name="b")
    out = ops.relu(ops.add(ops.multiply(a, b), a))
    assert out.dtype == "float16"
    check(kind, [a, b], out, lambda x, y: np.maximum(x * y + x, np.float16(0)), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_float16_math(kind: str) -> None:
    a = tex.placeholder((70,), dtype="float16", name="a")
    out = ops.sigmoid(ops.exp(a))
    check(kind, [a], out, lambda x: (1 / (1 + np.exp(-np.exp(x.astype(np.float32))))).astype(np.float16),
          rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "float64"])
def test_integer_and_double_arith(dtype: str) -> None:
    a = tex.placeholder((5, 23), dtype=dtype, name="a")
    b = tex.placeholder((23,), dtype=dtype, name="b")
    out = ops.maximum(ops.subtract(ops.add(a, b), b), ops.multiply(a, b))
    for kind in ("default", "stress_inline"):
        check(kind, [a, b], out, lambda x, y: np.maximum((x + y) - y, x * y))


@pytest.mark.parametrize("kind", ["default", "stress_at"])
def test_integer_divide_truncates(kind: str) -> None:
    a = tex.placeholder((4, 9), dtype="int32", name="a")
    b = tex.placeholder((9,), dtype="int32", name="b")
    da = np.arange(-18, 18, dtype=np.int32).reshape(4, 9)
    db = np.array([1, -1, 2, -2, 3, -3, 5, 7, -7], dtype=np.int32)
    check(kind, [a, b], ops.divide(a, b), lambda x, y: (np.trunc(x / y)).astype(np.int32), data=[da, db])
    check(kind, [a, b], ops.floor_divide(a, b), np.floor_divide, data=[da, db])
    check(kind, [a, b], ops.mod(a, b), np.mod, data=[da, db])


@pytest.mark.parametrize("kind", SCHEDULES)
def test_cast_chain(kind: str) -> None:
    x = tex.placeholder((3, 21), name="x")
    out = ops.cast(ops.add(ops.cast(ops.multiply(x, 100.0), "int8"), 1), "float32")
    check(kind, [x], out, lambda a: ((a * 100).astype(np.int8) + np.int8(1)).astype(np.float32))
    b = ops.cast(x, "bool")
    check(kind, [x], b, lambda a: a.astype(bool), data=[np.where(rand((3, 21)) > 0, 0.0, 1.5).astype(np.float32)])


def test_tags() -> None:
    x = tex.placeholder((2, 3), name="x")
    assert ops.exp(x).op.tag == "elemwise"
    assert ops.add(x, x).op.tag == "broadcast"
    assert ops.transpose(x).op.tag == "injective"
    assert ops.reduce_sum(x).op.tag == "reduce"


@pytest.mark.parametrize("kind", SCHEDULES)
def test_symbolic_batch_dim(kind: str) -> None:
    from tests.ops.helpers import make_schedule

    n = tex.var("n")
    a, b = tex.placeholder((n, 16), name="a"), tex.placeholder((16,), name="b")
    out = ops.sigmoid(ops.add(a, b))
    f = tex.build(make_schedule(kind, out), [a, b, out, n])
    for rows in (1, 5):
        da, db = rand((rows, 16)), rand((16,))
        got = np.full((rows, 16), np.nan, np.float32)
        f(da, db, got, rows)
        np.testing.assert_allclose(got, 1 / (1 + np.exp(-(da + db))), rtol=1e-5, atol=1e-6)
