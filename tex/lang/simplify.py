"""The arithmetic simplifier: constant folding, linear forms, division by ranges, proofs.

Integer index arithmetic is what matters: lowering produces `(io*4 + ii) // 4`, `f % 8`,
`min(4, n - io*4)`, and codegen and the guards want `io`, `j`, `4`. Floats are only constant-folded
(in their own precision), nothing else: `x*0.0` is not 0 when x is NaN.

Ranges (`Bounds`) map a Var to `(min, extent)`: the var lies in `[min, min + extent)`. All rules
are exact under Python's floor semantics for `//` and `%`; int64 wrap-around is ignored, narrower
integers fall back to their dtype's range when an interval leaves it.

    (q*d + r) // d -> q + r // d          (q*d + r) % d -> r % d
    L = g*y + z, g | d, z in [k*g, k*g + g):  L // d -> (y + k) // (d/g),  L % d -> ((y + k) % (d/g))*g + z - k*g
    (x // a) // b -> x // (a*b)            (x % (a*b)) // a -> (x // a) % b        (x % (a*b)) % a -> x % a
    (x // a)*a + x % a -> x                min/max/compare by the range of `a - b`
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tex.lang import dtypes
from tex.lang.expr import (
    EQ,
    GE,
    GT,
    LE,
    LT,
    NE,
    Add,
    And,
    BinaryOp,
    Call,
    Cast,
    CmpOp,
    Const,
    Div,
    Expr,
    FloorDiv,
    FloorMod,
    Let,
    Max,
    Min,
    Mul,
    Not,
    Or,
    Select,
    Sub,
    Var,
    cast,
    convert,
)
from tex.lang.functor import Mutator, collect, substitute
from tex.lang.linear import Keys, Linear, is_index, linearize, rebuild, wrap

Bounds = Mapping[Var, tuple[Expr, Expr]]
Interval = tuple[float, float]  # ints, or -inf/inf when unbounded

_ALL: Interval = (-math.inf, math.inf)


def simplify(e: Expr, ranges: Bounds | None = None) -> Expr:
    """`e` rewritten to a simpler, semantically identical expression; `e` itself when nothing changed."""
    if not isinstance(e, Expr):
        return convert(e)
    keys = Keys()
    for _ in range(4):  # one pass is a fixed point in practice; a few more guard idempotence
        new = Simplifier(ranges, keys).visit(e)
        if new is e:
            break
        e = new
    return e


def const_bounds(e: Expr, ranges: Bounds | None = None) -> tuple[int | None, int | None]:
    """The inclusive integer interval of `e` over `ranges`; None where unbounded (or not an integer)."""
    s = Simplifier(ranges)
    lo, hi = s.bounds(simplify(e, ranges))
    return (None if math.isinf(lo) else int(lo)), (None if math.isinf(hi) else int(hi))


def prove(cond: Expr, ranges: Bounds | None = None) -> bool | None:
    """True/False when `cond` holds/fails for every value in `ranges`, None when that is not known."""
    c = simplify(cond, ranges)
    return bool(c.value) if isinstance(c, Const) else None


def symbolic_bounds(e: Expr, relax: Bounds, ranges: Bounds | None = None) -> tuple[Expr, Expr]:
    """The inclusive (min, max) of `e` while the vars of `relax` range over their intervals.

    Every other Var stays fixed and symbolic; `ranges` gives their ranges, used to simplify and to
    know signs. Linear forms use exact coefficient signs: `io*8 + ii` with ii in [0, 8) gives
    `(io*8, io*8 + 7)`. Floordiv, floormod in one window, min, max, select, widening casts and
    products with a fixed factor of known sign are bounded monotonically; anything else falls back
    to its constant interval, and where that is unbounded to the dtype's min/max (always sound,
    rarely useful: callers then take the whole axis). Both results are simplified.
    """
    fixed = {v: r for v, r in (ranges or {}).items() if v not in relax}
    r = _Relaxer(relax, fixed)
    e = simplify(e, r.sim.ranges)
    lo, hi = r.bounds(e)
    for _ in range(len(relax)):  # a relaxed range may mention another relaxed var: relax again
        if not (r.relaxed(lo) or r.relaxed(hi)):
            break
        lo, hi = r.bounds(simplify(lo, r.sim.ranges))[0], r.bounds(simplify(hi, r.sim.ranges))[1]
    if r.relaxed(lo) or r.relaxed(hi):
        lo, hi = r.fallback(e)
    return simplify(lo, fixed), simplify(hi, fixed)


class Simplifier(Mutator):
    """One bottom-up pass; every `visit_` gets a node whose children are not yet simplified."""

    def __init__(self, ranges: Bounds | None = None, keys: Keys | None = None):
        super().__init__()
        self.ranges: dict[Var, tuple[Expr, Expr]] = dict(ranges or {})
        self.keys = keys or Keys()
        self._iv: dict[int, tuple[Expr, Interval]] = {}
        self._busy: set[int] = set()

    def _done(self, n: Expr, out: Expr) -> Expr:
        """`n` itself when `out` is the same tree (the Mutator convention)."""
        return n if self.keys.same(n, out) else out

    def _children(self, n: BinaryOp) -> tuple[Expr, Expr, Expr]:
        a, b = self.visit(n.a), self.visit(n.b)
        same = a is n.a and b is n.b
        return a, b, (n if same else type(n)(a, b, n.dtype))

    # ------------------------------------------------------------------ arithmetic

    def visit_BinaryOp(self, n: BinaryOp) -> Expr:  # Add, Sub, Mul, Div
        a, b, m = self._children(n)
        if is_index(n.dtype):
            return self._done(n, rebuild(linearize(m, self.keys)))
        return _either(_fold(type(n), a, b, n.dtype), m)

    def visit_FloorDiv(self, n: FloorDiv) -> Expr:
        return self._div_mod(n, mod=False)

    def visit_FloorMod(self, n: FloorMod) -> Expr:
        return self._div_mod(n, mod=True)

    def _div_mod(self, n: BinaryOp, mod: bool) -> Expr:
        a, b, m = self._children(n)
        folded = _fold(type(n), a, b, n.dtype)
        if folded is not None or not is_index(n.dtype):
            return _either(folded, m)
        if isinstance(b, Const) and b.value > 0:
            return self._done(n, self.div_mod(a, int(b.value), mod))
        if not isinstance(b, Const) and self.sign(a) > 0 and self._lin_bounds(self._diff(a, b))[1] < 0:
            return a if mod else Const(0, n.dtype)  # 0 <= a < b
        return m

    def div_mod(self, x: Expr, d: int, mod: bool) -> Expr:
        """`x // d` or `x % d` for a simplified `x` and a constant `d > 0`, simplified."""
        dt = x.dtype
        if d == 1:
            return Const(0, dt) if mod else x
        if isinstance(x, Const):
            return Const(int(x.value) % d if mod else int(x.value) // d, dt)
        lin = linearize(x, self.keys)
        # x = g*y + z with z inside one window [k*g, k*g + g): no carry from z reaches y
        for g in sorted({math.gcd(c, d) for _, c in lin.terms.values()} | {d}, reverse=True):
            if g == 1:
                break
            y, z = lin.split(lambda c, g=g: c % g == 0)  # type: ignore[misc]
            zlo, zhi = self._lin_bounds(z)
            if math.isinf(zlo) or math.isinf(zhi):
                continue
            k = int(zlo) // g
            if zhi - k * g >= g:
                continue
            y = y.divided(g)
            y.const = k
            ye = rebuild(y)
            if not mod:
                return ye if g == d else self.div_mod(ye, d // g, False)
            z.const -= k * g
            if g == d:
                return rebuild(z)
            high = linearize(self.div_mod(ye, d // g, True), self.keys)
            return rebuild(Linear(dt).add(high, g).add(z))
        # (q*d + r) // d -> q + r // d, (q*d + r) % d -> r % d
        q, r = lin.split(lambda c: c % d == 0)
        if q.terms:
            inner = self._div_mod_atom(rebuild(r), d, mod)
            return inner if mod else rebuild(q.divided(d).add(linearize(inner, self.keys)))
        return self._div_mod_atom(x, d, mod)

    def _div_mod_atom(self, x: Expr, d: int, mod: bool) -> Expr:
        """Nested divisions: the patterns fusing and then splitting loops leaves."""
        dt = x.dtype
        inner = int(x.b.value) if isinstance(x, (FloorDiv, FloorMod)) and isinstance(x.b, Const) else 0
        if isinstance(x, FloorDiv) and inner > 0 and not mod:
            return self.div_mod(x.a, inner * d, False)  # (y // a) // d -> y // (a*d)
        if isinstance(x, FloorMod) and inner > 0 and inner % d == 0:
            if mod:
                return self.div_mod(x.a, d, True)  # (y % (a*d)) % d -> y % d
            return self.div_mod(self.div_mod(x.a, d, False), inner // d, True)  # (y % (a*d)) // d -> (y // d) % a
        return (FloorMod if mod else FloorDiv)(x, Const(d, dt), dt)

    def visit_Min(self, n: Min) -> Expr:
        return self._min_max(n, smaller=True)

    def visit_Max(self, n: Max) -> Expr:
        return self._min_max(n, smaller=False)

    def _min_max(self, n: BinaryOp, smaller: bool) -> Expr:
        a, b, m = self._children(n)
        folded = _fold(type(n), a, b, n.dtype)
        if folded is not None or not is_index(n.dtype):
            return _either(folded, m)
        lo, hi = self._lin_bounds(self._diff(a, b))
        if hi <= 0:  # a <= b
            return a if smaller else b
        if lo >= 0:
            return b if smaller else a
        # min(min(p, q), b) -> min(p, q) when b >= p or b >= q (and the mirror image)
        for inner, other in ((a, b), (b, a)):
            if type(inner) is type(n):
                for part in (inner.a, inner.b):  # type: ignore[attr-defined]
                    dlo, dhi = self._lin_bounds(self._diff(other, part))
                    if (dlo >= 0) if smaller else (dhi <= 0):
                        return inner
        return m

    # ------------------------------------------------------------------ conditions

    def visit_CmpOp(self, n: CmpOp) -> Expr:
        a, b, m = self._children(n)
        folded = _fold(type(n), a, b, n.dtype)
        if folded is not None or not (is_index(a.dtype) and n.dtype == "bool"):
            return _either(folded, m)
        lo, hi = self._lin_bounds(self._diff(a, b))
        verdict = _compare(type(n), lo, hi)
        return Const(verdict, "bool") if verdict is not None else m

    def visit_And(self, n: And) -> Expr:
        a, b, m = self._children(n)
        for x, y in ((a, b), (b, a)):
            if isinstance(x, Const):
                return y if x.value else x
        return a if self.keys.same(a, b) else m

    def visit_Or(self, n: Or) -> Expr:
        a, b, m = self._children(n)
        for x, y in ((a, b), (b, a)):
            if isinstance(x, Const):
                return x if x.value else y
        return a if self.keys.same(a, b) else m

    def visit_Not(self, n: Not) -> Expr:
        a = self.visit(n.a)
        if isinstance(a, Const):
            return Const(not a.value, "bool")
        if isinstance(a, Not):
            return a.a
        if isinstance(a, CmpOp) and is_index(a.a.dtype) and a.dtype == "bool":  # no NaN: the negation flips
            return _NEGATE[type(a)](a.a, a.b, a.dtype)
        return n if a is n.a else Not(a)

    def visit_Select(self, n: Select) -> Expr:
        c = self.visit(n.cond)
        if isinstance(c, Const):
            return self.visit(n.true_value if c.value else n.false_value)
        t, f = self.visit(n.true_value), self.visit(n.false_value)
        if self.keys.same(t, f):
            return t
        return n if c is n.cond and t is n.true_value and f is n.false_value else Select(c, t, f)

    # ------------------------------------------------------------------ conversions, calls, lets

    def visit_Cast(self, n: Cast) -> Expr:
        v = self.visit(n.value)
        if v.dtype == n.dtype:
            return v
        if isinstance(v, Const) and "x" not in n.dtype:
            folded = _convert(v.value, n.dtype)
            if folded is not None:
                return Const(folded, n.dtype)
        return n if v is n.value else Cast(v, n.dtype)

    def visit_Call(self, n: Call) -> Expr:
        args = self.visit(n.args)
        if len(args) == 1 and isinstance(args[0], Const) and n.name in _EXACT_CALLS:
            return Const(_EXACT_CALLS[n.name](args[0].value, n.dtype), n.dtype)
        return n if args is n.args else Call(n.name, args, n.dtype)

    def visit_Let(self, n: Let) -> Expr:
        value = self.visit(n.value)
        if isinstance(value, Const):
            return self.visit(substitute(n.body, {n.var: value}))
        outer = self.ranges.get(n.var)
        self.ranges[n.var] = (value, Const(1, value.dtype))  # v = value: v in [value, value + 1)
        body = self.visit(n.body)
        if outer is not None:
            self.ranges[n.var] = outer
        return n if value is n.value and body is n.body else Let(n.var, value, body)

    # ------------------------------------------------------------------ ranges

    def _diff(self, a: Expr, b: Expr) -> Linear:
        return linearize(a, self.keys).add(linearize(b, self.keys), -1)

    def sign(self, e: Expr) -> int:
        """1 when `e >= 0` always, -1 when `e <= 0` always, else 0."""
        lo, hi = self.bounds(e)
        return 1 if lo >= 0 else -1 if hi <= 0 else 0

    def _lin_bounds(self, lin: Linear) -> Interval:
        lo: float = lin.const
        hi: float = lin.const
        for term, c in lin.terms.values():
            tlo, thi = _scale(self.bounds(term), c)
            lo, hi = lo + tlo, hi + thi
        return _int(lo), _int(hi)

    def bounds(self, e: Expr) -> Interval:
        """Interval arithmetic over `e` (best on simplified expressions, where terms have cancelled)."""
        hit = self._iv.get(id(e))
        if hit is not None:
            return hit[1]
        iv = self._bounds(e)
        if dtypes.is_int(e.dtype) and e.dtype != "int64" and "x" not in e.dtype:
            dlo, dhi = dtypes.min_value(e.dtype), dtypes.max_value(e.dtype)
            if iv[0] < dlo or iv[1] > dhi:  # the value may wrap: anything of the dtype
                iv = (dlo, dhi)
        if not isinstance(e, Var):
            self._iv[id(e)] = (e, iv)
        return iv

    def _bounds(self, e: Expr) -> Interval:
        if e.dtype == "bool":
            return (int(e.value), int(e.value)) if isinstance(e, Const) else (0, 1)
        if not is_index(e.dtype):
            return _ALL
        if isinstance(e, Const):
            return int(e.value), int(e.value)
        if isinstance(e, Var):
            return self._var_bounds(e)
        if isinstance(e, Cast):  # a narrowing cast out of range is caught by `bounds`
            src = e.value.dtype
            return self.bounds(e.value) if src == "bool" or is_index(src) else _unsigned(e.dtype)
        if isinstance(e, Select):
            t, f = self.bounds(e.true_value), self.bounds(e.false_value)
            return min(t[0], f[0]), max(t[1], f[1])
        if isinstance(e, Let):
            outer = self.ranges.get(e.var)
            self.ranges[e.var] = (e.value, Const(1, e.value.dtype))
            iv = self.bounds(e.body)
            if outer is not None:
                self.ranges[e.var] = outer
            return iv
        if not isinstance(e, BinaryOp):
            return _unsigned(e.dtype)
        a, b = self.bounds(e.a), self.bounds(e.b)
        fn = _INTERVAL.get(type(e))
        return fn(a, b) if fn is not None else _unsigned(e.dtype)

    def _var_bounds(self, v: Var) -> Interval:
        r = self.ranges.get(v)
        if r is None or id(v) in self._busy:
            return _unsigned(v.dtype)
        self._busy.add(id(v))
        try:
            mlo, mhi = self.bounds(r[0])
            _, ehi = self.bounds(r[1])
        finally:
            self._busy.discard(id(v))
        return mlo, max(mlo, mhi + ehi - 1)


# ---------------------------------------------------------------- interval arithmetic

def _int(x: float) -> float:
    return x if math.isinf(x) else int(x)


def _unsigned(dtype: str) -> Interval:
    """What the dtype alone says of a value: unsigned ones are >= 0."""
    return (0, dtypes.max_value(dtype)) if dtype.startswith("uint") else _ALL


def _times(x: float, y: float) -> float:
    return 0 if x == 0 or y == 0 else x * y


def _scale(a: Interval, c: int) -> Interval:
    lo, hi = _times(a[0], c), _times(a[1], c)
    return (lo, hi) if c >= 0 else (hi, lo)


def _mul(a: Interval, b: Interval) -> Interval:
    corners = [_times(x, y) for x in a for y in b]
    return min(corners), max(corners)


def _fdiv(x: float, y: float) -> float:
    if math.isinf(x):
        return x if y > 0 else -x
    return x // y if math.isinf(y) else int(x) // int(y)


def _floordiv(a: Interval, b: Interval) -> Interval:
    if b[0] <= 0 <= b[1]:
        return _ALL
    corners = [_fdiv(x, y) for x in a for y in b]
    return _int(min(corners)), _int(max(corners))


def _floormod(a: Interval, b: Interval) -> Interval:
    if b[0] > 0:
        if b[0] == b[1] and not math.isinf(a[0]) and not math.isinf(a[1]) and a[0] // b[0] == a[1] // b[0]:
            return a[0] % b[0], a[1] % b[0]  # one window: no wrap-around
        return 0, (min(a[1], b[1] - 1) if a[0] >= 0 else b[1] - 1)
    if b[1] < 0:
        return b[0] + 1, 0
    return _ALL


_INTERVAL = {
    Add: lambda a, b: (a[0] + b[0], a[1] + b[1]),
    Sub: lambda a, b: (a[0] - b[1], a[1] - b[0]),
    Mul: _mul,
    FloorDiv: _floordiv,
    FloorMod: _floormod,
    Min: lambda a, b: (min(a[0], b[0]), min(a[1], b[1])),
    Max: lambda a, b: (max(a[0], b[0]), max(a[1], b[1])),
}


def _compare(cls: type, lo: float, hi: float) -> bool | None:
    """The verdict of `a <op> b` from the interval [lo, hi] of `a - b`, None when undecided."""
    if cls is LT:
        return True if hi < 0 else False if lo >= 0 else None
    if cls is LE:
        return True if hi <= 0 else False if lo > 0 else None
    if cls is GT:
        return True if lo > 0 else False if hi <= 0 else None
    if cls is GE:
        return True if lo >= 0 else False if hi < 0 else None
    equal = True if lo == hi == 0 else False if lo > 0 or hi < 0 else None
    return equal if cls is EQ or equal is None else not equal


def _either(folded: Expr | None, otherwise: Expr) -> Expr:
    return folded if folded is not None else otherwise


_NEGATE: dict[type, type[CmpOp]] = {EQ: NE, NE: EQ, LT: GE, GE: LT, LE: GT, GT: LE}


# ---------------------------------------------------------------- constant folding

_INT_OPS: dict[type, Any] = {
    Add: lambda a, b: a + b, Sub: lambda a, b: a - b, Mul: lambda a, b: a * b, Min: min, Max: max,
    FloorDiv: lambda a, b: a // b if b else None, FloorMod: lambda a, b: a % b if b else None,
}
_FLOAT_OPS: dict[type, Any] = {
    Add: np.add, Sub: np.subtract, Mul: np.multiply, Div: np.divide, Min: np.minimum, Max: np.maximum,
    FloorMod: lambda a, b: np.mod(a, b) if b else None,
}
_CMP_OPS: dict[type, Any] = {
    EQ: lambda a, b: a == b, NE: lambda a, b: a != b, LT: lambda a, b: a < b,
    LE: lambda a, b: a <= b, GT: lambda a, b: a > b, GE: lambda a, b: a >= b,
}


def _fold(cls: type, a: Expr, b: Expr, dtype: str) -> Const | None:
    """`a <op> b` of two scalar constants computed as the target would, else None."""
    if not (isinstance(a, Const) and isinstance(b, Const)) or "x" in dtype:
        return None
    if cls in _CMP_OPS:
        return Const(bool(_CMP_OPS[cls](a.value, b.value)), "bool")
    if dtypes.is_float(dtype) and cls in _FLOAT_OPS:
        t = dtypes.to_numpy(dtype).type
        with np.errstate(all="ignore"):
            v = _FLOAT_OPS[cls](t(a.value), t(b.value))
        return None if v is None else Const(float(v), dtype)
    if is_index(dtype) and cls in _INT_OPS:
        v = _INT_OPS[cls](int(a.value), int(b.value))
        return None if v is None else Const(wrap(v, dtype), dtype)
    return None


def _convert(v: int | float | bool, dtype: str) -> int | float | bool | None:
    """A constant converted like the target's cast (truncation towards zero), None if undefined."""
    if dtypes.is_bool(dtype):
        return bool(v)
    if dtypes.is_float(dtype):
        return float(dtypes.to_numpy(dtype).type(v))
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return wrap(int(v), dtype)


def _exact_float(fn: Any) -> Any:
    def run(v: int | float | bool, dtype: str) -> int | float:
        if not dtypes.is_float(dtype):
            return int(fn(int(v)))
        with np.errstate(all="ignore"):
            return float(fn(dtypes.to_numpy(dtype).type(v)))
    return run


# Intrinsics whose result is exactly rounded everywhere, so folding them cannot differ from the target.
_EXACT_CALLS: dict[str, Any] = {
    "floor": _exact_float(np.floor), "ceil": _exact_float(np.ceil), "abs": _exact_float(np.abs),
    "sqrt": _exact_float(np.sqrt),
}


# ---------------------------------------------------------------- symbolic bounds

class _Relaxer:
    """Symbolic (min, max) of simplified expressions with the vars of `relax` ranging."""

    def __init__(self, relax: Bounds, fixed: Bounds):
        self.relax = relax
        self.sim = Simplifier({**fixed, **relax})
        self.keys = self.sim.keys
        self._memo: dict[int, tuple[Expr, bool]] = {}

    def relaxed(self, e: Expr) -> bool:
        """Whether `e` mentions a relaxed var."""
        hit = self._memo.get(id(e))
        if hit is None:
            found = bool(collect(e, lambda n: isinstance(n, Var) and n in self.relax))
            hit = self._memo[id(e)] = (e, found)
        return hit[1]

    def fallback(self, e: Expr) -> tuple[Expr, Expr]:
        lo, hi = self.sim.bounds(e)
        dt = e.dtype
        return (Const(dtypes.min_value(dt) if math.isinf(lo) else lo, dt),
                Const(dtypes.max_value(dt) if math.isinf(hi) else hi, dt))

    def bounds(self, e: Expr) -> tuple[Expr, Expr]:
        if not self.relaxed(e):
            return e, e
        if isinstance(e, Var):
            mn, ext = self.relax[e]
            return cast(mn, e.dtype), cast(mn + ext - 1, e.dtype)
        if not is_index(e.dtype):
            return self.fallback(e)
        if isinstance(e, (Add, Sub, Mul)):
            lin = linearize(e, self.keys)
            if lin.single() is None or lin.single()[0] is not e:  # type: ignore[index]
                return self._linear(lin)
        fn = getattr(self, f"_{type(e).__name__}", None)
        out = fn(e) if fn is not None else None
        return out if out is not None else self.fallback(e)

    def _linear(self, lin: Linear) -> tuple[Expr, Expr]:
        lo, hi = Linear(lin.dtype, const=lin.const), Linear(lin.dtype, const=lin.const)
        for term, c in lin.terms.values():
            tlo, thi = self.bounds(term)
            if c < 0:
                tlo, thi = thi, tlo
            lo.add(linearize(tlo, self.keys), c)
            hi.add(linearize(thi, self.keys), c)
        return rebuild(lo), rebuild(hi)

    def _Mul(self, e: Mul) -> tuple[Expr, Expr] | None:
        for f, g in ((e.a, e.b), (e.b, e.a)):
            if not self.relaxed(f) and self.sim.sign(f) != 0:
                glo, ghi = self.bounds(g)
                lo, hi = glo * f, ghi * f
                return (lo, hi) if self.sim.sign(f) > 0 else (hi, lo)
        return None

    def _FloorDiv(self, e: FloorDiv) -> tuple[Expr, Expr] | None:
        dlo, dhi = self.sim.bounds(e.b)
        if self.relaxed(e.b) or dlo <= 0 <= dhi:
            return None
        lo, hi = self.bounds(e.a)
        lo, hi = lo // e.b, hi // e.b  # monotone in the numerator for a divisor of fixed sign
        return (lo, hi) if dlo > 0 else (hi, lo)

    def _FloorMod(self, e: FloorMod) -> tuple[Expr, Expr] | None:
        if not (isinstance(e.b, Const) and e.b.value > 0):
            return None
        lo, hi = self.bounds(e.a)
        if prove(EQ(lo // e.b, hi // e.b, "bool"), self.sim.ranges):  # one window: `%` is monotone there
            return lo % e.b, hi % e.b
        return None

    def _Min(self, e: Min) -> tuple[Expr, Expr]:
        (alo, ahi), (blo, bhi) = self.bounds(e.a), self.bounds(e.b)
        return Min(alo, blo, e.dtype), Min(ahi, bhi, e.dtype)

    def _Max(self, e: Max) -> tuple[Expr, Expr]:
        (alo, ahi), (blo, bhi) = self.bounds(e.a), self.bounds(e.b)
        return Max(alo, blo, e.dtype), Max(ahi, bhi, e.dtype)

    def _Select(self, e: Select) -> tuple[Expr, Expr]:
        (tlo, thi), (flo, fhi) = self.bounds(e.true_value), self.bounds(e.false_value)
        return Min(tlo, flo, e.dtype), Max(thi, fhi, e.dtype)

    def _Cast(self, e: Cast) -> tuple[Expr, Expr] | None:
        src = e.value.dtype
        if not (is_index(src) and dtypes.is_signed(src) == dtypes.is_signed(e.dtype)
                and dtypes.bits(src) <= dtypes.bits(e.dtype)):
            return None  # only widening casts are monotone
        lo, hi = self.bounds(e.value)
        return Cast(lo, e.dtype), Cast(hi, e.dtype)
