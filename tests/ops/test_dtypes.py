"""dtype semantics of tex.ops against numpy: unsigned compare/divide/extend, casts, rounding, half, double."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tex
from tests.ops.helpers import check, rand
from tests.ops.reference import np_conv2d
from tex import ops

RNG = np.random.default_rng(3)
U8 = (RNG.integers(0, 256, size=(4, 21)).astype(np.uint8), RNG.integers(1, 256, size=(21,)).astype(np.uint8))
I8 = RNG.integers(-128, 128, size=(4, 21)).astype(np.int8)

UINT8_BINARY = {
    "less": (ops.less, np.less), "maximum": (ops.maximum, np.maximum), "minimum": (ops.minimum, np.minimum),
    "floor_divide": (ops.floor_divide, np.floor_divide), "mod": (ops.mod, np.mod),
    "divide": (ops.divide, np.floor_divide),  # unsigned: truncation is floor
}


@pytest.mark.parametrize("kind", ["default", "stress_at"])
@pytest.mark.parametrize("name", sorted(UINT8_BINARY))
def test_uint8_binary(name: str, kind: str) -> None:
    op, ref = UINT8_BINARY[name]
    a, b = tex.placeholder((4, 21), dtype="uint8", name="a"), tex.placeholder((21,), dtype="uint8", name="b")
    check(kind, [a, b], op(a, b), ref, data=list(U8))


CASTS = [("uint8", "float32", U8[0]), ("uint8", "int32", U8[0]), ("int8", "uint8", I8), ("int8", "float16", I8),
         ("float32", "uint8", (RNG.random((4, 21)) * 255).astype(np.float32)),
         ("float32", "int8", (RNG.random((4, 21)) * 250 - 125).astype(np.float32)),
         ("float64", "float16", RNG.standard_normal((4, 21))), ("int64", "float64", RNG.integers(-9, 9, (4, 21)))]


@pytest.mark.parametrize("kind", ["default", "stress_inline"])
@pytest.mark.parametrize("case", range(len(CASTS)))
def test_casts(case: int, kind: str) -> None:
    src, dst, data = CASTS[case]
    x = tex.placeholder((4, 21), dtype=src, name="x")
    check(kind, [x], ops.cast(x, dst), lambda v: v.astype(dst), data=[data])


@pytest.mark.parametrize("kind", ["default", "stress_at"])
def test_unsigned_and_signed_reductions(kind: str) -> None:
    a = tex.placeholder((4, 21), dtype="uint8", name="a")
    check(kind, [a], ops.reduce_max(a, 1), lambda v: v.max(1), data=[U8[0]])
    check(kind, [a], ops.reduce_min(a, 0), lambda v: v.min(0), data=[U8[0]])
    i = tex.placeholder((4, 21), dtype="int8", name="i")
    check(kind, [i], ops.abs(i), np.abs, data=[I8])
    check(kind, [i], ops.clip(i, -300, 50), lambda v: np.clip(v, -128, 50).astype(np.int8), data=[I8])


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_round_half_to_even(dtype: str) -> None:
    x = tex.placeholder((4, 21), dtype=dtype, name="x")
    data = np.resize(np.array([0.5, 1.5, 2.5, -0.5, -1.5, 3.5, 2.4999, -2.5], dtype=dtype), (4, 21))
    for kind in ("default", "stress_at"):
        check(kind, [x], ops.round(x), np.round, data=[data])


HALF = {"floor": (ops.floor, np.floor), "tanh": (ops.tanh, np.tanh), "sqrt": (ops.sqrt, np.sqrt),
        "log": (ops.log, np.log), "square": (lambda x: ops.power(x, 2.0), np.square)}


@pytest.mark.parametrize("name", sorted(HALF))
def test_float16_math_functions(name: str) -> None:
    op, ref = HALF[name]
    x = tex.placeholder((4, 21), dtype="float16", name="x")
    data = (RNG.random((4, 21)) * 4 + 0.1).astype(np.float16)
    for kind in ("default", "stress_inline"):
        check(kind, [x], op(x), lambda v: ref(v.astype(np.float32)).astype(np.float16), data=[data],
              rtol=2e-3, atol=2e-3)


def test_float64_keeps_precision() -> None:
    x = tex.placeholder((4, 21), dtype="float64", name="x")
    out = ops.erf(ops.exp(x))
    check("stress_at", [x], out, lambda v: np.vectorize(math.erf)(np.exp(v)), data=[rand((4, 21), "float64")],
          rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", ["default", "stress_at"])
def test_float16_products(kind: str) -> None:
    a, b = tex.placeholder((5, 24), dtype="float16", name="a"), tex.placeholder((24, 19), dtype="float16", name="b")
    da, db = rand((5, 24), "float16"), rand((24, 19), "float16")
    want = da.astype(np.float32) @ db.astype(np.float32)
    check(kind, [a, b], ops.matmul(a, b, out_dtype="float32"), lambda x, y: want, data=[da, db], rtol=1e-5)
    check(kind, [a, b], ops.matmul(a, b), lambda x, y: want.astype(np.float16), data=[da, db], rtol=1e-2, atol=1e-2)
    x, w = tex.placeholder((1, 2, 6, 7), dtype="float16", name="x"), tex.placeholder((3, 2, 3, 3), dtype="float16")
    dx, dw = rand((1, 2, 6, 7), "float16"), rand((3, 2, 3, 3), "float16")
    check(kind, [x, w], ops.conv2d_nchw(x, w, padding=1, out_dtype="float32"),
          lambda p, q: np_conv2d(p.astype(np.float32), q.astype(np.float32), (1, 1), (1, 1, 1, 1), (1, 1)),
          data=[dx, dw], rtol=1e-5, atol=1e-5)
