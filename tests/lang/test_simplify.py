"""The arithmetic simplifier: one test per rule, then hypothesis against a tiny evaluator.

The evaluator is the oracle: Python ints with Python's floor `//` and `%`, as tex defines them.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tex.ir.nodes import Broadcast, Buffer, BufferLoad, For, ForKind, IfThenElse, LetStmt, PrimFunc, Ramp, Seq, Store
from tex.ir.transform.simplify import simplify_func
from tex.lang import expr as E
from tex.lang.expr import Const, Expr, Var
from tex.lang.simplify import const_bounds, prove, simplify, symbolic_bounds

I64 = "int64"


def c(v: int) -> Const:
    return Const(v, I64)


def rng(extent: int, lo: int = 0) -> tuple[Const, Const]:
    return c(lo), c(extent)


i, j, k, n = Var("i", I64), Var("j", I64), Var("k", I64), Var("n", I64)
io, ii, ko, ki = Var("io", I64), Var("ii", I64), Var("ko", I64), Var("ki", I64)


def s(e: Expr, **ranges: int) -> str:
    """The simplified text of `e`, with ranges given as `name=extent` (min 0)."""
    by_name = {v.name: v for v in (i, j, k, n, io, ii, ko, ki)}
    return str(simplify(e, {by_name[name]: rng(ext) for name, ext in ranges.items()}))


# ---------------------------------------------------------------- evaluator

_ARITH = {
    E.Add: lambda a, b: a + b, E.Sub: lambda a, b: a - b, E.Mul: lambda a, b: a * b,
    E.FloorDiv: lambda a, b: a // b, E.FloorMod: lambda a, b: a % b, E.Min: min, E.Max: max,
    E.EQ: lambda a, b: a == b, E.NE: lambda a, b: a != b, E.LT: lambda a, b: a < b,
    E.LE: lambda a, b: a <= b, E.GT: lambda a, b: a > b, E.GE: lambda a, b: a >= b,
    E.And: lambda a, b: a and b, E.Or: lambda a, b: a or b,
}


def ev(e: Expr, env: dict[Var, int]) -> int | bool:
    if isinstance(e, Const):
        return e.value
    if isinstance(e, Var):
        return env[e]
    if isinstance(e, E.Not):
        return not ev(e.a, env)
    if isinstance(e, E.Select):
        return ev(e.true_value, env) if ev(e.cond, env) else ev(e.false_value, env)
    if isinstance(e, E.Cast):
        return int(ev(e.value, env))
    if isinstance(e, E.Let):
        return ev(e.body, {**env, e.var: ev(e.value, env)})
    return _ARITH[type(e)](ev(e.a, env), ev(e.b, env))


# ---------------------------------------------------------------- constant folding

@pytest.mark.parametrize("op, a, b, want", [
    (E.Add, 3, 4, 7), (E.Sub, 3, 4, -1), (E.Mul, 3, -4, -12), (E.FloorDiv, -7, 2, -4), (E.FloorMod, -7, 2, 1),
    (E.FloorDiv, 7, -2, -4), (E.FloorMod, 7, -2, -1), (E.Min, 3, -4, -4), (E.Max, 3, -4, 3),
])
def test_fold_int(op, a, b, want):
    assert simplify(op(c(a), c(b), I64)).value == want


@pytest.mark.parametrize("op, want", [
    (E.EQ, False), (E.NE, True), (E.LT, True), (E.LE, True), (E.GT, False), (E.GE, False),
])
def test_fold_compare(op, want):
    assert simplify(op(c(3), c(4), "bool")).value is want
    assert simplify(op(Const(3.0, "float32"), Const(4.0, "float32"), "bool")).value is want


@pytest.mark.parametrize("op, want", [
    (E.Add, 1.5), (E.Sub, 0.5), (E.Mul, 0.5), (E.Div, 2.0), (E.Min, 0.5), (E.Max, 1.0), (E.FloorMod, 0.0),
])
def test_fold_float(op, want):
    f = "float32"
    assert simplify(op(Const(1.0, f), Const(0.5, f), f)).value == want


def test_fold_float_rounds_in_its_precision():
    f = "float32"
    got = simplify(E.Add(Const(0.1, f), Const(0.2, f), f)).value
    import numpy as np
    assert got == float(np.float32(0.1) + np.float32(0.2))


def test_floats_only_fold():
    x = Var("x", "float32")
    e = E.Mul(x, Const(0.0, "float32"), "float32")  # NaN * 0 is NaN: not 0
    assert simplify(e) is e


def test_fold_division_by_zero_is_left_alone():
    e = E.FloorDiv(c(1), c(0), I64)
    assert simplify(e) is e


def test_fold_wraps_narrow_ints():
    u8 = "uint8"
    assert simplify(E.Add(Const(200, u8), Const(100, u8), u8)).value == 44
    assert simplify(E.Cast(c(300), "int8")).value == 44
    assert simplify(E.Cast(Const(-2.7, "float32"), I64)).value == -2
    assert simplify(E.Cast(c(3), "float32")).value == 3.0


def test_fold_select_logic_and_calls():
    x = Var("x", "bool")
    assert simplify(E.Select(Const(True, "bool"), i, j)) is i
    assert simplify(E.Select(Const(False, "bool"), i, j)) is j
    assert simplify(E.Select(x, i, i)) is i
    assert simplify(E.And(x, Const(True, "bool"), "bool")) is x
    assert simplify(E.And(x, Const(False, "bool"), "bool")).value is False
    assert simplify(E.Or(Const(True, "bool"), x, "bool")).value is True
    assert simplify(E.Or(x, Const(False, "bool"), "bool")) is x
    assert simplify(E.Not(E.Not(x))) is x
    assert str(simplify(E.Not(E.LT(i, j, "bool")))) == "i >= j"
    assert simplify(E.Call("floor", (Const(-1.5, "float32"),), "float32")).value == -2.0
    assert simplify(E.Call("sqrt", (Const(4.0, "float32"),), "float32")).value == 2.0
    exp = E.Call("exp", (Const(1.0, "float32"),), "float32")
    assert simplify(exp) is exp  # libm results may differ from numpy's in the last ulp


def test_let_with_a_constant_is_substituted():
    assert simplify(E.Let(k, c(3), i + k)).__str__() == "i + 3"


# ---------------------------------------------------------------- linear forms

def test_linear_forms():
    assert s(i * 4 + j - i * 4) == "j"
    assert s(i * 2 + i * 3) == "i * 5"
    assert s(i + 3 - 5) == "i - 2"
    assert s(3 - i) == "3 - i"
    assert s(j + (i - j)) == "i"
    assert s((i + 1) * 4 - 4) == "i * 4"
    assert s(E.Mul(E.Mul(i, c(2), I64), E.Mul(j, c(3), I64), I64)) == "i * j * 6"
    assert s(i * 0 + 7) == "7"


def test_unchanged_is_the_same_object():
    for e in (i * 4 + j, i - 3, (i * 4 + j) // 3, E.Min(i, j, I64), i < j, E.Select(i < j, i, j)):
        assert simplify(e) is e


def test_fuse_recombines():
    assert s((i // 8) * 8 + i % 8) == "i"
    assert s(((i // 8) * 8 + i % 8) * 2 + j) == "i * 2 + j"


# ---------------------------------------------------------------- division

def test_split_under_ranges():
    assert s((io * 4 + ii) // 4, io=16, ii=4) == "io"
    assert s((io * 4 + ii) % 4, io=16, ii=4) == "ii"
    assert s((io * 4 + ii + 2) // 4, io=16, ii=2) == "io"
    assert s((io * 4 + ii + 2) % 4, io=16, ii=2) == "ii + 2"


def test_fuse_then_split():
    assert s((i * 8 + j) // 8, i=4, j=8) == "i"
    assert s((i * 8 + j) % 8, i=4, j=8) == "j"
    # fused f = ko*4 + ki, inner extent 8: ko = f // 8 is (ko*4 + ki) // 8
    assert s((ko * 4 + ki) // 8, ki=4) == "ko // 2"
    assert s((ko * 4 + ki) % 8, ki=4) == "ko % 2 * 4 + ki"


def test_division_without_ranges():
    assert s((i * 4 + j) // 4) == "i + j // 4"
    assert s((i * 4 + j) % 4) == "j % 4"
    assert s((i * 4) // 4) == "i"
    assert s((i * 4) % 4) == "0"
    assert s((i * 2) // 4) == "i // 2"
    assert s(i // 1) == "i"
    assert s(i % 1) == "0"


def test_division_whole_range():
    assert s(i // 16, i=16) == "0"
    assert s(i % 16, i=16) == "i"
    assert s((i + 16) // 16, i=16) == "1"
    assert s((i + 16) % 16, i=16) == "i"


def test_nested_division():
    assert s((i // 4) // 8) == "i // 32"
    assert s((i % 32) // 8) == "i // 8 % 4"
    assert s((i % 32) % 8) == "i % 8"
    assert s((i % 4) % 8) == "i % 4"


def test_division_by_a_larger_symbolic_divisor():
    assert s(i // n, i=4, n=1) == "i // n"  # n could be 0
    r = {i: rng(4), n: (c(4), c(10))}
    assert str(simplify(i // n, r)) == "0"
    assert simplify(i % n, r) is i


# ---------------------------------------------------------------- min, max, comparisons

def test_min_max():
    assert s(E.Min(c(4), 64 - io * 4, I64), io=16) == "4"
    assert s(E.Max(c(4), 64 - io * 4, I64), io=16) == "64 - io * 4"
    assert s(E.Min(c(4), 62 - io * 4, I64), io=16) == "min(4, 62 - io * 4)"
    assert s(E.Min(i + 1, i, I64)) == "i"
    assert s(E.Max(i + 1, i, I64)) == "i + 1"
    assert s(E.Min(E.Min(n, c(4), I64), c(8), I64)) == "min(n, 4)"
    assert s(E.Max(c(0), E.Max(n, c(4), I64), I64)) == "max(n, 4)"


def test_compare_by_ranges():
    assert s(io * 4 + ii < 64, io=16, ii=4) == "True"
    assert s(io * 4 + ii < 63, io=16, ii=4) == "io * 4 + ii < 63"
    assert s(io * 4 + ii >= 0, io=16, ii=4) == "True"
    assert s(io * 4 + ii >= 64, io=16, ii=4) == "False"
    assert s(E.EQ(i * 4 + 1, i * 4, "bool")) == "False"
    assert s(E.NE(i + j, j + i, "bool")) == "False"
    assert s(E.LE(i, i, "bool")) == "True"


def test_prove_and_bounds():
    r = {io: rng(16), ii: rng(4)}
    assert prove(io * 4 + ii < 64, r) is True
    assert prove(io * 4 + ii < 60, r) is None
    assert prove(io * 4 + ii > 70, r) is False
    assert const_bounds(io * 4 + ii, r) == (0, 63)
    assert const_bounds((io * 4 + ii) // 8, r) == (0, 7)
    assert const_bounds(io % 5, r) == (0, 4)
    assert const_bounds(E.Min(io, c(3), I64), r) == (0, 3)
    assert const_bounds(E.Select(i < j, io, c(-2)), r) == (-2, 15)
    assert const_bounds(n, r) == (None, None)
    assert const_bounds(n * 0 + io, r) == (0, 15)
    assert const_bounds(E.Cast(io, "int32"), r) == (0, 15)
    assert const_bounds(io - n, r) == (None, None)


def test_symbolic_range_extent_bounds_the_var():
    r = {io: rng(16), ii: (c(0), E.Min(c(4), n - io * 4, I64))}
    assert const_bounds(ii, r) == (0, 3)
    assert prove(io * 4 + ii < 64, r) is True


def test_symbolic_bounds():
    lo, hi = symbolic_bounds((io * 8 + ii) + (ko * 4 + ki), {ii: rng(8), ki: rng(4)})
    assert (str(lo), str(hi)) == ("io * 8 + ko * 4", "io * 8 + ko * 4 + 10")
    lo, hi = symbolic_bounds(io * 8 - ii, {ii: rng(8)})
    assert (str(lo), str(hi)) == ("io * 8 - 7", "io * 8")
    lo, hi = symbolic_bounds((io * 8 + ii) // 4, {ii: rng(8)})
    assert (str(lo), str(hi)) == ("io * 2", "io * 2 + 1")
    lo, hi = symbolic_bounds(E.Min(io * 4 + ii, n, I64), {ii: rng(4)})
    assert (str(lo), str(hi)) == ("min(io * 4, n)", "min(io * 4 + 3, n)")
    lo, hi = symbolic_bounds(ii * ii, {ii: rng(4)})
    assert (lo.value, hi.value) == (0, 9)


def test_symbolic_bounds_dependent_range():
    # ki's range mentions ko, both relaxed: relaxing again removes ko
    lo, hi = symbolic_bounds(ko * 4 + ki, {ko: rng(4), ki: (c(0), E.Min(c(4), 14 - ko * 4, I64))})
    assert (str(lo), str(hi)) == ("0", "15")


def test_symbolic_bounds_without_a_finite_answer():
    lo, hi = symbolic_bounds(E.Mul(ii, n, I64), {ii: rng(4)})
    assert (lo.value, hi.value) == (-(2**63), 2**63 - 1)


# ---------------------------------------------------------------- hypothesis

VARS = (Var("x", I64), Var("y", I64), Var("z", I64))
LETS = {d: Var(f"t{d}", I64) for d in range(8)}


@st.composite
def exprs(draw: st.DrawFn, depth: int = 4) -> Expr:
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        if draw(st.booleans()):
            return draw(st.sampled_from(VARS))
        return c(draw(st.integers(-10, 10)))
    sub = exprs(depth - 1)
    kind = draw(st.sampled_from(["add", "sub", "mulc", "mul", "div", "mod", "min", "max", "select", "split", "let"]))
    a = draw(sub)
    if kind == "let":  # one let variable per depth: nested lets never shadow each other
        t = LETS[depth]
        return E.Let(t, a, E.Add(t, draw(sub), I64) if draw(st.booleans()) else E.FloorMod(t, c(4), I64))
    if kind in ("add", "sub", "min", "max", "mul"):
        cls = {"add": E.Add, "sub": E.Sub, "min": E.Min, "max": E.Max, "mul": E.Mul}[kind]
        return cls(a, draw(sub), I64)
    if kind == "mulc":
        return E.Mul(a, c(draw(st.integers(-4, 8))), I64)
    if kind in ("div", "mod"):
        d = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 16, -3]))
        return (E.FloorDiv if kind == "div" else E.FloorMod)(a, c(d), I64)
    if kind == "select":
        cmp = draw(st.sampled_from([E.LT, E.LE, E.EQ, E.NE, E.GT, E.GE]))
        return E.Select(cmp(a, draw(sub), "bool"), draw(sub), draw(sub))
    # split-like: (a*f + v) // g or % g, with g a multiple or a divisor of f
    f = draw(st.sampled_from([2, 4, 8]))
    g = draw(st.sampled_from([f, f * 2, max(1, f // 2)]))
    inner = E.Add(E.Mul(a, c(f), I64), draw(st.sampled_from(VARS)), I64)
    return (E.FloorDiv if draw(st.booleans()) else E.FloorMod)(inner, c(g), I64)


ranges_st = st.tuples(*[st.tuples(st.integers(-8, 8), st.integers(1, 16)) for _ in VARS])


def _points(ranges: tuple[tuple[int, int], ...], seed: int, count: int = 24) -> list[dict[Var, int]]:
    r = random.Random(seed)
    pts = [{v: lo if corner & (1 << d) else lo + ext - 1 for d, (v, (lo, ext)) in enumerate(zip(VARS, ranges))}
           for corner in range(2 ** len(VARS))]
    pts += [{v: r.randrange(lo, lo + ext) for v, (lo, ext) in zip(VARS, ranges)} for _ in range(count)]
    return pts


def _bounds(ranges: tuple[tuple[int, int], ...]) -> dict[Var, tuple[Expr, Expr]]:
    return {v: (c(lo), c(ext)) for v, (lo, ext) in zip(VARS, ranges)}


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(exprs(), ranges_st, st.integers(0, 2**32))
def test_simplify_preserves_values(e, ranges, seed):
    out = simplify(e, _bounds(ranges))
    for p in _points(ranges, seed):
        assert ev(out, p) == ev(e, p), f"{e}  ->  {out}  at {p}"


@_SETTINGS
@given(exprs(), ranges_st)
def test_simplify_is_idempotent(e, ranges):
    b = _bounds(ranges)
    once = simplify(e, b)
    assert simplify(once, b) is once, f"{e}  ->  {once}  ->  {simplify(once, b)}"


@_SETTINGS
@given(exprs(), ranges_st, st.integers(0, 2**32))
def test_const_bounds_contain_values(e, ranges, seed):
    lo, hi = const_bounds(e, _bounds(ranges))
    for p in _points(ranges, seed):
        v = ev(e, p)
        assert (lo is None or lo <= v) and (hi is None or v <= hi), f"{e} = {v} at {p}, bounds {lo, hi}"


@_SETTINGS
@given(exprs(), ranges_st, st.sets(st.sampled_from(VARS), min_size=1), st.integers(0, 2**32))
def test_symbolic_bounds_contain_values(e, ranges, relaxed, seed):
    b = _bounds(ranges)
    relax = {v: b[v] for v in relaxed}
    fixed = {v: r for v, r in b.items() if v not in relax}
    lo, hi = symbolic_bounds(e, relax, fixed)
    for p in _points(ranges, seed):
        v = ev(e, p)
        fixed_only = {x: val for x, val in p.items() if x not in relax}
        assert ev(lo, fixed_only) <= v <= ev(hi, fixed_only), f"{e} = {v} at {p}, bounds {lo}, {hi}"


@_SETTINGS
@given(exprs(depth=3), exprs(depth=3), ranges_st, st.integers(0, 2**32))
def test_prove_is_sound(a, b, ranges, seed):
    for cmp in (E.LT, E.LE, E.EQ, E.NE):
        verdict = prove(cmp(a, b, "bool"), _bounds(ranges))
        if verdict is not None:
            for p in _points(ranges, seed, count=8):
                assert ev(cmp(a, b, "bool"), p) == verdict


@_SETTINGS
@given(exprs(), st.integers(-2, 2), st.integers(-5, 5), st.integers(1, 8), st.integers(1, 6), st.integers(-4, 12),
       st.integers(0, 2**32))
def test_ranges_that_depend_on_other_vars(e, a, b, ext, cap, top, seed):
    """y in [x*a + b, x*a + b + ext), z in [0, max(1, min(cap, top - x))): the shape of tiled loop nests."""
    x, y, z = VARS
    ranges = {x: (c(0), c(6)), y: (x * a + b, c(ext)),
              z: (c(0), E.Max(c(1), E.Min(c(cap), top - x, I64), I64))}
    out = simplify(e, ranges)
    lo, hi = const_bounds(e, ranges)
    slo, shi = symbolic_bounds(e, {y: ranges[y], z: ranges[z]}, {x: ranges[x]})
    r = random.Random(seed)
    for _ in range(30):
        xv = r.randrange(0, 6)
        p = {x: xv, y: r.randrange(xv * a + b, xv * a + b + ext), z: r.randrange(0, max(1, min(cap, top - xv)))}
        v = ev(e, p)
        assert ev(out, p) == v, f"{e}  ->  {out}  at {p}"
        assert (lo is None or lo <= v) and (hi is None or v <= hi), f"{e} = {v} at {p}, bounds {lo, hi}"
        assert ev(slo, {x: xv}) <= v <= ev(shi, {x: xv}), f"{e} = {v} at {p}, bounds {slo}, {shi}"


# ---------------------------------------------------------------- the loop-IR pass

A = Buffer("A", (c(64),), "float32")
B = Buffer("B", (c(64),), "float32")


def _func(body) -> PrimFunc:
    return PrimFunc("f", (A, B), body)


def _load(idx: Expr) -> Expr:
    return BufferLoad(A, (idx,), "float32")


def test_pass_drops_proven_guards_and_simplifies_indices():
    idx = io * 4 + ii
    body = For(io, c(0), c(16), ForKind.SERIAL,
               For(ii, c(0), c(4), ForKind.SERIAL,
                   IfThenElse(idx < 64, Store(B, ((idx // 4) * 4 + idx % 4,), _load(idx)))))
    out = simplify_func(_func(body))
    assert str(out.body) == "for io in range(16):\n  for ii in range(4):\n    B[io * 4 + ii] = A[io * 4 + ii]"
    assert simplify_func(out) is out


def test_pass_keeps_unproven_guards():
    idx = io * 4 + ii
    body = For(io, c(0), c(16), ForKind.SERIAL,
               For(ii, c(0), c(4), ForKind.SERIAL, IfThenElse(idx < 62, Store(B, (idx,), _load(idx)))))
    func = _func(body)
    assert simplify_func(func) is func


def test_pass_false_guard_keeps_else_or_removes():
    st_ = Store(B, (i,), _load(i))
    other = Store(B, (i,), Const(0.0, "float32"))
    out = simplify_func(_func(For(i, c(0), c(8), ForKind.SERIAL, IfThenElse(i >= 8, st_, other))))
    assert str(out.body) == "for i in range(8):\n  B[i] = 0.0f"
    out = simplify_func(_func(Seq((For(i, c(0), c(8), ForKind.SERIAL, IfThenElse(i >= 8, st_)), other))))
    assert str(out.body) == "B[i] = 0.0f"


def test_pass_loop_extents():
    st_ = Store(B, (i + j,), _load(i))
    body = For(i, c(0), c(8), ForKind.SERIAL, For(j, c(0), c(1), ForKind.SERIAL, st_))
    assert str(simplify_func(_func(body)).body) == "for i in range(8):\n  B[i] = A[i]"
    kept = simplify_func(_func(body), remove_unit_loops=False)
    assert str(kept.body) == "for i in range(8):\n  for j in range(1):\n    B[i + j] = A[i]"
    empty = For(i, c(0), c(8) - c(8), ForKind.SERIAL, st_)
    assert str(simplify_func(_func(Seq((empty, st_)))).body) == "B[i + j] = A[i]"
    thread = For(j, c(0), c(1), ForKind.THREAD_BINDING, st_, "threadIdx.x")
    assert simplify_func(_func(thread)).body is thread


def test_pass_let_and_vectors():
    body = LetStmt(k, c(2) * 3, Store(B, (k + i,), _load(k)))
    assert str(simplify_func(_func(body)).body) == "B[i + 6] = A[6]"
    v = Var("v", I64)
    body = LetStmt(v, _cast_load(i), Store(B, (E.FloorMod(v, c(4), I64),), _load(v)))
    assert simplify_func(_func(body)).body is body
    vec = Store(B, (Ramp(i * 8 + 0, c(1), 8),), BufferLoad(A, (Ramp(i * 8, c(1), 8),), "float32x8"),
                Broadcast(Const(True, "bool"), 8))
    out = simplify_func(_func(vec)).body
    assert str(out) == "B[ramp(i * 8, 1, 8)] = A[ramp(i * 8, 1, 8)]"
    assert out.predicate is None


def _cast_load(idx: Expr) -> Expr:
    return E.Cast(_load(idx), I64)
