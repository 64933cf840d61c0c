"""The LLVM backend on hand-built loop IR, with numpy as the oracle."""

from __future__ import annotations

import math
import mmap
import warnings

import numpy as np
import pytest

from tests.targets.kernels import buf, c, load, loop, map_func, split, var
from tex.ir.nodes import (
    Allocate,
    Barrier,
    Broadcast,
    BufferLoad,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    PrimFunc,
    Ramp,
    Store,
    seq,
)
from tex.ir.transform import vectorize
from tex.ir.verify import verify
from tex.lang import dtypes
from tex.lang.expr import (
    EQ,
    LT,
    Add,
    And,
    Call,
    Cast,
    Const,
    Div,
    FloorDiv,
    FloorMod,
    Let,
    Max,
    Min,
    Mul,
    Not,
    Or,
    Select,
    Var,
    binary,
    cast,
)
from tex.targets import build_func
from tex.targets.target import host_features

P, V, U, S = ForKind.PARALLEL, ForKind.VECTORIZED, ForKind.UNROLLED, ForKind.SERIAL
rng = np.random.default_rng(0)


def run(func: PrimFunc, *arrays: np.ndarray) -> None:
    verify(func)
    verify(vectorize(func))
    build_func(func, "llvm")(*arrays)


def test_vector_add_parallel_outer_vectorized_inner_with_tail() -> None:
    n = 1000  # not a multiple of 16: the tail goes through `if 16 <= n - io*16` loop partitioning
    f = map_func("vadd", ["float32", "float32"], [("float32", lambda a, b: a + b)], n, vector=16, parallel=True)
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    out = np.zeros(n, np.float32)
    run(f, a, b, out)
    np.testing.assert_array_equal(out, a + b)


def _gemm(M: int, N: int, K: int, ti: int = 8, tj: int = 16) -> PrimFunc:
    A, B, C = buf("A", (M, K)), buf("B", (K, N)), buf("C", (M, N))
    acc = buf("C.local", (ti, tj), scope="local")
    io, jo, ii, ji, k = var("i.outer"), var("j.outer"), var("i.inner"), var("j.inner"), var("k")
    zero = loop(ii, ti, loop(ji, tj, Store(acc, (ii, ji), c(0.0, "float32")), V), U)
    update = Store(acc, (ii, ji), load(acc, ii, ji) + load(A, io * ti + ii, k) * load(B, k, jo * tj + ji))
    mac = loop(k, K, loop(ii, ti, loop(ji, tj, update, V), U))
    out = loop(ii, ti, loop(ji, tj, Store(C, (io * ti + ii, jo * tj + ji), load(acc, ii, ji)), V))
    body = loop(io, M // ti, loop(jo, N // tj, Allocate(acc, seq(zero, mac, out))), P)
    return PrimFunc("gemm", (A, B, C), body)


def test_gemm_with_local_accumulator() -> None:
    M, N, K = 64, 48, 37
    f = _gemm(M, N, K)
    a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, N), dtype=np.float32)
    out = np.zeros((M, N), np.float32)
    m = build_func(f, "llvm")
    m(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    asm = m.get_source("asm")
    # the 16-lane vectors as FMAs on the widest registers the host has (a 16-lane vector is 2 ymm on AVX2)
    assert "vfmadd" in asm and ("zmm" if "avx512f" in host_features() else "ymm") in asm
    assert "GOMP_parallel" in m.get_source("ll")


def test_vectorized_fma_loop_assembly_uses_ymm_fma() -> None:
    n = 256
    f = map_func("axpy", ["float32"] * 3, [("float32", lambda x, y, z: x * y + z)], n, vector=8)
    m = build_func(f)
    asm = m.get_source("asm")
    assert "vfmadd" in asm and "ymm" in asm, asm
    x, y, z = (rng.random(n, dtype=np.float32) for _ in range(3))
    out = np.zeros(n, np.float32)
    m(x, y, z, out)
    np.testing.assert_allclose(out, x * y + z, rtol=1e-6)


# ---------------------------------------------------------------- dtypes and casts

def _values(dtype: str, n: int) -> np.ndarray:
    if dtype == "bool":
        return rng.random(n) < 0.5
    if dtypes.is_float(dtype):
        v = np.concatenate([[-0.0, 0.0, 0.5, 1.5, 2.5, -2.5, -0.5, 99.9, -99.9, 127.0], rng.uniform(-100, 100, n)])
        return v[:n].astype(dtype)
    info = np.iinfo(dtype)
    edge = [info.min, info.max, 0, 1, -1 if info.min < 0 else 2, 3]
    return np.concatenate([np.array(edge, dtype), rng.integers(info.min, info.max, n, dtype=dtype,
                                                                endpoint=True)])[:n].astype(dtype)


@pytest.mark.parametrize("vector", [None, 8])
@pytest.mark.parametrize("src", dtypes.DTYPES)
def test_casts_from_every_dtype_to_every_dtype(src: str, vector: int | None) -> None:
    n = 50
    outs = [(dst, lambda x, dst=dst: cast(x, dst)) for dst in dtypes.DTYPES]
    f = map_func("casts", [src], outs, n, vector=vector)
    x = _values(src, n)
    ys = [np.zeros(n, dst) for dst in dtypes.DTYPES]
    run(f, x, *ys)
    for dst, y in zip(dtypes.DTYPES, ys):
        with np.errstate(over="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # int -> float16 overflow to inf is expected
            want = x.astype(dst)
        if dtypes.is_float(src) and dst == "uint8":
            keep = x >= 0  # numpy's float -> uint8 of a negative number is C undefined behaviour
            y, want = y[keep], want[keep]
        if dtypes.is_int(src) and dst == "float16":
            keep = np.abs(x.astype(np.float64)) < 2048  # no double rounding questions: exactly representable
            y, want = y[keep], want[keep]
        np.testing.assert_array_equal(y, want, err_msg=f"{src} -> {dst}")


def test_float_to_bool_treats_nan_as_true() -> None:
    f = map_func("nan_bool", ["float32"], [("bool", lambda x: cast(x, "bool"))], 4)
    x = np.array([np.nan, 0.0, -0.0, 1.0], np.float32)
    y = np.zeros(4, bool)
    run(f, x, y)
    np.testing.assert_array_equal(y, x.astype(bool))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "float32", "float64", "float16"])
@pytest.mark.parametrize("vector", [None, 16])
def test_arithmetic_and_comparisons(dtype: str, vector: int | None) -> None:
    n = 77
    ops = [
        (dtype, lambda a, b: a + b), (dtype, lambda a, b: a - b), (dtype, lambda a, b: a * b),
        (dtype, lambda a, b: binary(Min, a, b)), (dtype, lambda a, b: binary(Max, a, b)),
        ("bool", lambda a, b: a < b), ("bool", lambda a, b: a <= b), ("bool", lambda a, b: a > b),
        ("bool", lambda a, b: a >= b), ("bool", lambda a, b: (a == b).asobject()),
        ("bool", lambda a, b: (a != b).asobject()),
    ]
    f = map_func("arith", [dtype, dtype], ops, n, vector=vector)
    a, b = _values(dtype, n), _values(dtype, n)[::-1].copy()
    b[:5] = a[:5]
    outs = [np.zeros(n, dt) for dt, _ in ops]
    with np.errstate(over="ignore"):
        run(f, a, b, *outs)
        want = [a + b, a - b, a * b, np.minimum(a, b), np.maximum(a, b), a < b, a <= b, a > b, a >= b, a == b, a != b]
    for k, (got, exp) in enumerate(zip(outs, want)):
        np.testing.assert_array_equal(got, exp.astype(got.dtype), err_msg=f"op #{k} on {dtype}")


def test_min_max_propagate_nan_like_numpy() -> None:
    f = map_func("mm", ["float32", "float32"], [("float32", lambda a, b: binary(Min, a, b)),
                                                ("float32", lambda a, b: binary(Max, a, b))], 4)
    a = np.array([np.nan, 1.0, 2.0, np.nan], np.float32)
    b = np.array([1.0, np.nan, 3.0, np.nan], np.float32)
    lo, hi = np.zeros(4, np.float32), np.zeros(4, np.float32)
    run(f, a, b, lo, hi)
    np.testing.assert_array_equal(lo, np.minimum(a, b))
    np.testing.assert_array_equal(hi, np.maximum(a, b))


def test_float_division_and_remainder() -> None:
    n = 64
    f = map_func("fdiv", ["float64", "float64"], [("float64", lambda a, b: Div(a, b, "float64")),
                                                  ("float64", lambda a, b: binary(FloorMod, a, b)),
                                                  ("float64", lambda a, b: Call("floor", (Div(a, b, "float64"),),
                                                                                "float64"))], n, vector=8)
    a = rng.uniform(-10, 10, n)
    b = rng.choice([-3.0, -0.75, 0.5, 2.0, 7.25], n)
    a[:4] = [6.0, -6.0, 0.0, -0.0]
    b[:4] = [3.0, 3.0, -2.0, 2.0]
    q, r, fq = np.zeros(n), np.zeros(n), np.zeros(n)
    run(f, a, b, q, r, fq)
    np.testing.assert_allclose(q, a / b)
    np.testing.assert_allclose(r, np.remainder(a, b), atol=1e-12)
    np.testing.assert_array_equal(np.signbit(r[:4]), np.signbit(np.remainder(a[:4], b[:4])))
    np.testing.assert_array_equal(fq, np.floor_divide(a, b))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
@pytest.mark.parametrize("vector", [None, 8])
def test_floor_div_mod_follow_python_semantics(dtype: str, vector: int | None) -> None:
    n = 96
    consts = [1, 2, 3, 4, 7, 8, 64] + ([-1, -2, -3, -8] if dtype != "uint8" else [200, 255])
    ops = [(dtype, lambda a, b: binary(FloorDiv, a, b)), (dtype, lambda a, b: binary(FloorMod, a, b)),
           (dtype, lambda a, b: Div(a, b, a.dtype))]
    for k in consts:
        ops.append((dtype, lambda a, b, k=k: binary(FloorDiv, a, c(k, dtype))))
        ops.append((dtype, lambda a, b, k=k: binary(FloorMod, a, c(k, dtype))))
    f = map_func("floordiv", [dtype, dtype], ops, n, vector=vector)
    a = _values(dtype, n)
    b = _values(dtype, n)[::-1].copy()
    b[:6] = [0, 1, 2, 3, 5, 7] if dtype == "uint8" else [0, -1, 3, -3, 0, -7]
    a[:6] = [5, np.iinfo(dtype).min, 7, 7, 0, np.iinfo(dtype).max]
    outs = [np.zeros(n, dtype) for _ in ops]
    run(f, a, b, *outs)
    with np.errstate(divide="ignore", over="ignore"):
        trunc = [0 if y == 0 else abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
                 for x, y in zip(a.tolist(), b.tolist())]
        want = [a // b, a % b, np.array(trunc, dtype=object)]
        for k in consts:
            kk = np.array(k).astype(dtype)
            want += [a // kk, a % kk]
    ints = np.iinfo(dtype)
    for j, (got, exp) in enumerate(zip(outs, want)):
        if j == 2:  # truncating Div: compare where the float computation is exact
            keep = (b != -1) | (a != ints.min)
            got, exp = got[keep], exp[keep].astype(dtype)
        np.testing.assert_array_equal(got, exp.astype(dtype), err_msg=f"op #{j} on {dtype}")


def test_bool_logic_select_and_storage() -> None:
    n = 40
    ops = [("bool", lambda p, q, x, y: And(p, q, "bool")),
           ("bool", lambda p, q, x, y: Or(p, q, "bool")),
           ("bool", lambda p, q, x, y: Not(p)),
           ("float32", lambda p, q, x, y: Select(p, x, y)),
           ("bool", lambda p, q, x, y: p)]
    for vector in (None, 8):
        f = map_func("logic", ["bool", "bool", "float32", "float32"], ops, n, vector=vector)
        p, q = _values("bool", n), _values("bool", n)
        x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        outs = [np.zeros(n, dt) for dt, _ in ops]
        run(f, p, q, x, y, *outs)
        for got, want in zip(outs, [p & q, p | q, ~p, np.where(p, x, y), p]):
            np.testing.assert_array_equal(got, want)
        assert set(np.unique(outs[0].view(np.uint8))) <= {0, 1}  # bools are stored as 0/1 bytes


# ---------------------------------------------------------------- math

def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x.astype(np.float64))


_MATH: dict[str, tuple[object, tuple[float, float]]] = {
    "exp": (np.exp, (-5, 5)), "log": (np.log, (0.01, 50)), "sqrt": (np.sqrt, (0, 50)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.01, 50)), "tanh": (np.tanh, (-4, 4)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-8, 8)), "erf": (_erf, (-3, 3)), "abs": (np.abs, (-5, 5)),
    "floor": (np.floor, (-5, 5)), "ceil": (np.ceil, (-5, 5)), "round": (np.round, (-5, 5)),
    "pow": (np.power, (0.1, 4)),
}


@pytest.mark.parametrize("vector", [None, 8, 13, 32])  # 13 and 32 lanes: libmvec calls padded and split
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("name", sorted(_MATH))
def test_math_functions_match_numpy(name: str, dtype: str, vector: int | None) -> None:
    ref, (lo, hi) = _MATH[name]
    n = 75
    arity = 2 if name == "pow" else 1
    f = map_func(name, [dtype] * arity, [(dtype, lambda *xs: Call(name, xs, xs[0].dtype))], n, vector=vector)
    x = rng.uniform(lo, hi, n).astype(dtype)
    if name == "round":
        x[:6] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5]
    args = [x] + ([rng.uniform(-2, 2, n).astype(dtype)] if arity == 2 else [])
    out = np.zeros(n, dtype)
    run(f, *args, out)
    want = np.asarray(ref(*[a.astype(np.float64) for a in args])).astype(dtype)  # type: ignore[operator]
    rtol = {"float16": 2e-3, "float32": 2e-6, "float64": 1e-13}[dtype]
    np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol, err_msg=f"{name} {dtype}")


def test_integer_abs() -> None:
    f = map_func("iabs", ["int32", "int8"], [("int32", lambda x, y: Call("abs", (x,), "int32")),
                                            ("int8", lambda x, y: Call("abs", (y,), "int8"))], 5)
    x = np.array([-3, 0, 4, -(2**31), 2**31 - 1], np.int32)
    y = np.array([-3, 0, 4, -128, 127], np.int8)
    ox, oy = np.zeros(5, np.int32), np.zeros(5, np.int8)
    run(f, x, y, ox, oy)
    np.testing.assert_array_equal(ox, np.abs(x))
    np.testing.assert_array_equal(oy, np.abs(y))


def test_float16_elementwise_rounds_like_numpy() -> None:
    n = 100
    ops = [("float16", lambda a, b: a * b + a), ("float16", lambda a, b: Div(a, b, "float16")),
           ("float32", lambda a, b: cast(a, "float32") * cast(b, "float32"))]
    for vector in (None, 16):
        f = map_func("half", ["float16", "float16"], ops, n, vector=vector)
        a = rng.uniform(-10, 10, n).astype(np.float16)
        b = rng.uniform(0.5, 10, n).astype(np.float16)
        outs = [np.zeros(n, dt) for dt, _ in ops]
        run(f, a, b, *outs)
        np.testing.assert_array_equal(outs[1], a / b)
        np.testing.assert_array_equal(outs[2], a.astype(np.float32) * b.astype(np.float32))
        # a*b+a may be fused in float32 before one rounding: at most one half-ulp off numpy's two roundings
        np.testing.assert_allclose(outs[0], a * b + a, rtol=1e-3, atol=1e-2)


def test_int8_products_accumulated_in_int32() -> None:
    M, K = 16, 64
    A, x, y = buf("A", (M, K), "int8"), buf("x", (K,), "int8"), buf("y", (M,), "int32")
    acc = buf("acc", (1,), "int32", scope="local")
    i, k = var("i"), var("k")
    prod = cast(load(A, i, k), "int32") * cast(load(x, k), "int32")
    body = loop(i, M, Allocate(acc, seq(
        Store(acc, (c(0),), c(0, "int32")),
        loop(k, K, Store(acc, (c(0),), load(acc, c(0)) + prod), V),  # a reduction: left to LLVM
        Store(y, (i,), load(acc, c(0))),
    )), P)
    a = rng.integers(-128, 128, (M, K), dtype=np.int8)
    v = rng.integers(-128, 128, K, dtype=np.int8)
    out = np.zeros(M, np.int32)
    run(PrimFunc("dot_i8", (A, x, y), body), a, v, out)
    np.testing.assert_array_equal(out, a.astype(np.int32) @ v.astype(np.int32))


# ---------------------------------------------------------------- statements

def test_unrolled_loops_constant_large_and_symbolic() -> None:
    n = var("n", "int32")
    A, B = buf("A", (300,)), buf("B", (300,))
    i, j, k = var("i"), var("j"), var("k")
    body = seq(
        loop(i, 4, Store(B, (i,), load(A, i) * c(2.0, "float32")), U),                   # unrolled here
        loop(j, 290, Store(B, (j + 4,), load(A, j + 4) + c(1.0, "float32")), U, lo=0),   # llvm.loop.unroll.full
        loop(k, cast(n, "int64"), Store(B, (k + 294,), load(A, k + 294)), U),             # llvm.loop.unroll.enable
    )
    f = PrimFunc("unroll", (A, B, n), body)
    a = rng.random(300, dtype=np.float32)
    out = np.zeros(300, np.float32)
    m = build_func(f)
    m(a, out, 6)
    np.testing.assert_array_equal(out[:4], a[:4] * 2)
    np.testing.assert_array_equal(out[4:294], a[4:294] + 1)
    np.testing.assert_array_equal(out[294:], a[294:])


def _guarded(n_alloc: int) -> tuple[np.ndarray, mmap.mmap]:
    """A float32 array of n_alloc elements ending exactly at a PROT_NONE page: any overrun faults."""
    import ctypes

    page = mmap.PAGESIZE
    mm = mmap.mmap(-1, 2 * page)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    libc = ctypes.CDLL(None)
    assert libc.mprotect(ctypes.c_void_p(addr + page), page, 0) == 0
    arr = np.frombuffer(mm, np.float32, count=n_alloc, offset=page - 4 * n_alloc)
    return arr, mm


def test_predicated_vector_store_never_touches_lanes_that_are_off() -> None:
    n = 13  # 16 lanes over 13 elements: the last 3 lanes are masked off, next to a guard page
    A, B = buf("A", (n,)), buf("B", (n,))
    lanes = Ramp(c(0), c(1), 16)
    pred = LT(lanes, Broadcast(c(n), 16), "boolx16")
    f = PrimFunc("masked", (A, B), Store(B, (lanes,), BufferLoad(A, (lanes,), "float32x16") * Broadcast(
        c(3.0, "float32"), 16), pred))
    a, keep_a = _guarded(n)
    b, keep_b = _guarded(n)
    a[:] = np.arange(n, dtype=np.float32)
    run(f, a, b)
    np.testing.assert_array_equal(b, np.arange(n, dtype=np.float32) * 3)
    del a, b  # the arrays view the maps: drop them first
    keep_a.close()
    keep_b.close()


def test_tail_partition_and_guards_read_nothing_out_of_bounds() -> None:
    n = 21
    A, B = buf("A", (n,)), buf("B", (n,))
    io, ii = var("i.outer"), var("i.inner")
    i = io * 8 + ii
    guarded = IfThenElse(LT(i, c(n), "bool"), Store(B, (i,), load(A, i) + c(1.0, "float32")))
    f = PrimFunc("guard", (A, B), loop(io, 3, loop(ii, 8, guarded, V)))
    vec = vectorize(f)
    verify(vec)
    assert "ramp" in str(vec) and "# if" in str(vec)  # the lane-dependent `if` became a store predicate
    a, ka = _guarded(n)
    b, kb = _guarded(n)
    a[:] = np.arange(n)
    run(f, a, b)
    np.testing.assert_array_equal(b, np.arange(n) + 1)
    # the same with the split's Min(8, n - io*8) form
    g = map_func("tail", ["float32"], [("float32", lambda x: x + c(1.0, "float32"))], n, vector=8)
    run(g, a, b)
    np.testing.assert_array_equal(b, np.arange(n) + 1)
    del a, b
    ka.close()
    kb.close()


def test_select_with_loads_is_lazy_scalar_and_vector() -> None:
    n = 10  # padding: B[i] = A[i - 3] if 3 <= i < n + 3 else 0, for i in [0, n + 6)
    A, B = buf("A", (n,)), buf("B", (n + 6,))
    i = var("i")
    inside = And(i >= 3, LT(i, c(n + 3), "bool"), "bool")
    body = Store(B, (i,), Select(inside, load(A, i - 3), c(0.0, "float32")))
    for kind in (S, V):  # a scalar select branches around the load; a vector one masks it
        f = PrimFunc("pad", (A, B), loop(i, n + 6, body, kind))
        a, ka = _guarded(n)
        a[:] = np.arange(1, n + 1)
        out = np.zeros(n + 6, np.float32)
        run(f, a, out)
        np.testing.assert_array_equal(out, np.concatenate([[0, 0, 0], np.arange(1, n + 1), [0, 0, 0]]))
        del a
        ka.close()


def test_let_letstmt_and_scalar_predicate() -> None:
    n = 20
    A, B = buf("A", (n,)), buf("B", (n,))
    i, t, u = var("i"), Var("t", "float32"), Var("u", "float32")
    body = LetStmt(t, load(A, i) * c(2.0, "float32"),
                   Store(B, (i,), Let(u, t + c(1.0, "float32"), u * u),
                         predicate=binary(FloorMod, i, c(2)) < c(1)))
    for kind in (S, V):
        f = PrimFunc("lets", (A, B), loop(i, n, body, kind))
        a = rng.random(n, dtype=np.float32)
        out = np.full(n, -1.0, np.float32)
        run(f, a, out)
        want = np.where(np.arange(n) % 2 == 0, (a * 2 + 1) ** 2, -1.0).astype(np.float32)
        np.testing.assert_allclose(out, want, rtol=1e-6)


def test_symbolic_shapes_and_scalar_params() -> None:
    n, m = var("n", "int32"), var("m", "int32")
    A, B = buf("A", (Cast(n, "int64"), Cast(m, "int64"))), buf("B", (Cast(n, "int64"), Cast(m, "int64")))
    alpha = Var("alpha", "float32")
    i = var("i")
    body = loop(i, Cast(n, "int64"), split(30, 8, lambda jj: Store(B, (i, jj), load(A, i, jj) * alpha)), P)
    # the inner split is written for m == 30; guard it for other m with an outer condition
    f = PrimFunc("scale", (A, B, n, m, alpha), IfThenElse(EQ(m, c(30, "int32"), "bool"), body))
    mod = build_func(f)
    a = rng.random((5, 30), dtype=np.float32)
    out = np.zeros_like(a)
    mod(a, out, 5, 30, 2.5)
    np.testing.assert_allclose(out, a * 2.5)


def test_shape_variables_that_are_not_parameters_are_bound_from_arrays() -> None:
    n = var("n")
    A, B = buf("A", (n,)), buf("B", (n,))
    i = var("i")
    f = PrimFunc("copy", (A, B), loop(i, n, Store(B, (i,), load(A, i) + c(1.0, "float32")), P))
    mod = build_func(f)
    for size in (1, 7, 1000):
        a = rng.random(size, dtype=np.float32)
        out = np.zeros(size, np.float32)
        mod(a, out)
        np.testing.assert_array_equal(out, a + 1)


def test_heap_allocation_for_large_and_symbolic_buffers() -> None:
    n = var("n")
    A, B = buf("A", (n,)), buf("B", (n,))
    big, sym = buf("big", (40000,)), buf("sym", (n,))  # 160 kB: over the stack limit
    i = var("i")
    body = seq(
        Allocate(big, seq(loop(i, n, Store(big, (i,), load(A, i) * c(2.0, "float32"))),
                          Allocate(sym, seq(loop(i, n, Store(sym, (i,), load(big, i) + c(1.0, "float32"))),
                                            loop(i, n, Store(B, (i,), load(sym, i))))))),
        Barrier(),
    )
    f = PrimFunc("heap", (A, B, n), body)
    a = rng.random(1000, dtype=np.float32)
    out = np.zeros(1000, np.float32)
    run(f, a, out, 1000)
    np.testing.assert_array_equal(out, a * 2 + 1)
    assert "aligned_alloc" in build_func(f).get_source("ll")


def test_gather_and_scatter_for_non_unit_strides() -> None:
    n = 24
    A, B = buf("A", (n, n)), buf("B", (n, n))
    i, j = var("i"), var("j")
    # B[j, i] = A[i, j] with i vectorized: a strided gather from A and a strided scatter into B
    f = PrimFunc("transpose", (A, B), loop(j, n, loop(i, n, Store(B, (j, i), load(A, i, j)), V)))
    a = rng.random((n, n), dtype=np.float32)
    out = np.zeros((n, n), np.float32)
    run(f, a, out)
    np.testing.assert_array_equal(out, a.T)
    # an index that is not linear in the lane: A[i // 2] (a general gather)
    C = buf("C", (n,))
    g = PrimFunc("halves", (A, C), loop(i, n, Store(C, (i,), load(A, binary(FloorDiv, i, c(2)), c(0))), V))
    out2 = np.zeros(n, np.float32)
    run(g, a, out2)
    np.testing.assert_array_equal(out2, a[np.arange(n) // 2, 0])


def test_parallel_loop_captures_outer_variables_and_nested_parallel_runs() -> None:
    M, N = 6, 50
    A, B = buf("A", (M, N)), buf("B", (M, N))
    i, j, k = var("i"), var("j"), var("k")
    scale = Var("s", "float32")
    inner = loop(j, N, Store(B, (i, j), load(A, i, j) * scale + cast(i, "float32")), P)  # nested: serial
    f = PrimFunc("nested", (A, B, scale), loop(i, M, LetStmt(k, i * 2, loop(j, N, Store(
        B, (i, j), load(A, i, j) * scale + cast(k, "float32")), P)), P))
    a = rng.random((M, N), dtype=np.float32)
    out = np.zeros((M, N), np.float32)
    run(f, a, out, 3.0)
    np.testing.assert_allclose(out, a * 3 + 2 * np.arange(M)[:, None], rtol=1e-6)
    g = PrimFunc("serial_outer", (A, B, scale), loop(i, M, inner))  # parallel inside a serial loop
    run(g, a, out, 2.0)
    np.testing.assert_allclose(out, a * 2 + np.arange(M)[:, None], rtol=1e-6)


def test_thread_binding_and_opencl_are_not_for_llvm() -> None:
    A = buf("A", (4,))
    t = var("tx")
    f = PrimFunc("bound", (A,), For(t, c(0), c(4), ForKind.THREAD_BINDING, Store(A, (t,), c(1.0, "float32")),
                                    "threadIdx.x"))
    with pytest.raises(NotImplementedError, match=r"bound: loop 'tx' is bound to threadIdx.x"):
        build_func(f, "llvm")
    from tex.targets.opencl.codegen import codegen  # the OpenCL target takes it (tests/targets/opencl/)

    src, launch = codegen(f)
    assert launch.threads == (4, 1, 1) and "get_local_id(0)" in src


# ---------------------------------------------------------------- the vectorize pass

def test_vectorize_pass_shapes() -> None:
    n = 32
    A, B = buf("A", (4, n)), buf("B", (4, n))
    i, j = var("i"), var("j")
    f = PrimFunc("v", (A, B), loop(i, 4, loop(j, n, Store(B, (i, j), load(A, i, j) + c(1.0, "float32")), V)))
    g = vectorize(f)
    verify(g)
    text = str(g)
    assert "B[i, ramp(0, 1, 32)] = A[i, ramp(0, 1, 32)] + broadcast(1.0f, 32)" in text, text
    assert vectorize(g) is g  # nothing left to do
    # a reduction into one element stays a loop (LLVM gets a vectorize hint)
    acc = buf("acc", (1,))
    red = PrimFunc("r", (A, acc), loop(j, n, Store(acc, (c(0),), load(acc, c(0)) + load(A, c(0), j)), V))
    assert vectorize(red) is red
    # extent 1 and too-wide loops
    one = PrimFunc("o", (A, B), loop(j, 1, Store(B, (c(0), j), load(A, c(0), j)), V))
    assert "ramp" not in str(vectorize(one)) and "for" not in str(vectorize(one))
    wide = buf("W", (128,))
    w = PrimFunc("w", (wide,), loop(j, 128, Store(wide, (j,), c(0.0, "float32")), V))
    assert vectorize(w) is w


def test_vectorize_partitions_min_tail() -> None:
    f = map_func("tail", ["float32"], [("float32", lambda x: x * c(2.0, "float32"))], 20, vector=8)
    g = vectorize(f)
    verify(g)
    text = str(g)
    assert "if 8 <= 20 - i.outer * 8:" in text and "ramp(i.outer * 8, 1, 8)" in text, text
    assert "for i.inner in range(20 - i.outer * 8):" in text, text


def test_reduction_left_for_llvm_gets_vectorize_metadata() -> None:
    n = 64
    A, acc = buf("A", (n,)), buf("acc", (1,))
    j = var("j")
    f = PrimFunc("red", (A, acc), loop(j, n, Store(acc, (c(0),), load(acc, c(0)) + load(A, j)), V))
    mod = build_func(f)
    a = rng.random(n, dtype=np.float32)
    out = np.zeros(1, np.float32)
    mod(a, out)
    np.testing.assert_allclose(out[0], a.sum(), rtol=1e-5)


def test_nodes_built_directly() -> None:
    A = buf("A", (3,))
    i = var("i")
    f = PrimFunc("direct", (A,), loop(i, 3, Store(A, (i,), Cast(Add(Mul(i, Const(2, "int64"), "int64"),
                                                                      Const(1, "int64"), "int64"), "float32"))))
    out = np.zeros(3, np.float32)
    run(f, out)
    np.testing.assert_array_equal(out, [1, 3, 5])


def test_invariant_load_under_a_lane_mask_is_skipped_when_every_lane_is_off() -> None:
    # B[i, 0:8] = A[i] if i*8 + lane < n else 0, for rows i past A's end: A[i] must not be read there
    n = 20
    rows = 4
    A, B = buf("A", (2,)), buf("B", (rows, 8))
    i, j = var("i"), var("j")
    inside = LT(i * 8 + j, c(n - 4), "bool")  # rows 0, 1 are in; rows 2, 3 have every lane off
    body = loop(i, rows, loop(j, 8, Store(B, (i, j), Select(inside, load(A, binary(Min, i, c(7))), c(0.0, "float32"))),
                              V))
    a, ka = _guarded(2)
    a[:] = [5, 6]
    out = np.full((rows, 8), -1, np.float32)
    run(PrimFunc("inv", (A, B), body), a, out)
    want = np.where(np.arange(rows * 8).reshape(rows, 8) < n - 4, np.array([5, 6, 0, 0])[:, None], 0)
    np.testing.assert_array_equal(out, want)
    del a
    ka.close()


def test_fused_padded_window_sum() -> None:
    """A 3x3 zero-padded window sum over one fused loop (the shape of a default-scheduled pooling).

    LLVM 22's O3 loop vectorizer miscompiled this (wrong sums from the second channel on) until tex turned
    it off in favour of its own vectorize pass."""
    import tex

    c = 3
    X = tex.placeholder((1, c, 9, 9), name="X")
    ry, rx = tex.reduce_axis((0, 3), name="ry"), tex.reduce_axis((0, 3), name="rx")
    Y = tex.compute((1, c, 9, 9), lambda n, ch, h, w: tex.sum(
        tex.if_then_else(tex.all(h + ry >= 1, h + ry < 10, w + rx >= 1, w + rx < 10),
                         X[n, ch, h + ry - 1, w + rx - 1], tex.const(0.0, "float32")), axis=[ry, rx]), name="Y")
    s = tex.create_schedule(Y)
    s[Y].fuse(*s[Y].op.axis)
    f = tex.build(s, [X, Y])
    x = np.random.default_rng(0).random((1, c, 9, 9), dtype=np.float32)
    y = np.full((1, c, 9, 9), np.nan, np.float32)
    f(x, y)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    np.testing.assert_allclose(y, sum(xp[:, :, a:a + 9, b:b + 9] for a in range(3) for b in range(3)), rtol=1e-5)
