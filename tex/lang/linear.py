"""Linear forms of integer index expressions: `e = sum(coeff * term) + const`.

A term is a Var or any subexpression that is not an Add, a Sub or a Mul by a constant (`i // 4`,
`A[i]`, `n * m`). Terms are identified by a structural key (Vars, buffers and tensors by identity)
and kept in order of first appearance, so rebuilding is deterministic: `i*4 + j - 3`, never
`-3 + j + 4*i`. The simplifier builds on these forms; they know nothing about ranges.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from tex.lang import dtypes
from tex.lang.expr import Add, Const, Expr, FloorDiv, FloorMod, Mul, Sub, Var, field_names

Key = Hashable


def is_index(dtype: str) -> bool:
    """Scalar integers: the dtypes the integer rules (linear forms, ranges) apply to."""
    return dtypes.is_int(dtype) and "x" not in dtype


class Keys:
    """Structural keys of expressions, memoized by identity.

    Two expressions have the same key iff they are the same tree: Vars and non-expression leaves
    (buffers, tensors, iteration variables) compare by identity, constants by dtype and value.
    (`structural_equal` compares Vars by name, which is not what merging terms needs.)
    """

    def __init__(self) -> None:
        self._memo: dict[int, tuple[object, Key]] = {}  # holding the object keeps its id unique

    def __call__(self, e: object) -> Key:
        hit = self._memo.get(id(e))
        if hit is not None:
            return hit[1]
        k: Key
        if isinstance(e, Var):
            k = ("var", id(e))
        elif isinstance(e, Const):
            k = ("const", e.dtype, type(e.value).__name__, e.value)
        elif isinstance(e, tuple):
            k = ("tuple", *(self(x) for x in e))
        elif isinstance(e, Expr):
            k = (type(e), *(self(getattr(e, f)) for f in field_names(type(e))))
        elif e is None or isinstance(e, (str, int, float, bool)):
            k = e
        else:
            k = ("id", id(e))
        self._memo[id(e)] = (e, k)
        return k

    def same(self, a: Expr, b: Expr) -> bool:
        return a is b or self(a) == self(b)


@dataclass
class Linear:
    """`sum(coeff * term for term, coeff in terms.values()) + const`, every coeff non-zero."""

    dtype: str
    terms: dict[Key, tuple[Expr, int]] = field(default_factory=dict)
    const: int = 0

    def add_term(self, key: Key, term: Expr, coeff: int) -> None:
        old = self.terms.get(key)
        c = coeff + (old[1] if old is not None else 0)
        if c == 0:
            self.terms.pop(key, None)
        elif old is not None:
            self.terms[key] = (old[0], c)
        else:
            self.terms[key] = (term, c)

    def add(self, other: Linear, scale: int = 1) -> Linear:
        """`self + scale * other`, in place; `other`'s new terms go after `self`'s."""
        for k, (t, c) in other.terms.items():
            self.add_term(k, t, c * scale)
        self.const += other.const * scale
        return self

    def split(self, pred: Callable[[int], bool]) -> tuple[Linear, Linear]:
        """(terms whose coefficient satisfies `pred`, the other terms and the constant)."""
        yes, no = Linear(self.dtype), Linear(self.dtype, const=self.const)
        for k, (t, c) in self.terms.items():
            (yes if pred(c) else no).terms[k] = (t, c)
        return yes, no

    def divided(self, d: int) -> Linear:
        """Exact division of every coefficient and the constant by `d`."""
        assert all(c % d == 0 for _, c in self.terms.values()) and self.const % d == 0
        return Linear(self.dtype, {k: (t, c // d) for k, (t, c) in self.terms.items()}, self.const // d)

    def single(self) -> tuple[Expr, int] | None:
        """(term, coeff) when the form is one term and no constant."""
        if len(self.terms) == 1 and self.const == 0:
            return next(iter(self.terms.values()))
        return None


def linearize(e: Expr, keys: Keys) -> Linear:
    """The linear form of an integer expression whose subexpressions are already simplified.

    Besides collecting terms it recombines what fuse-then-split leaves behind:
    `c*a*(x // a) + c*(x % a) -> c*x` (exact for any a != 0 under floor semantics).
    """
    out = Linear(e.dtype)
    _collect(e, 1, out, keys)
    if any(isinstance(t, FloorMod) for t, _ in out.terms.values()):
        _recombine_div_mod(out, keys)
    return out


def _collect(e: Expr, coeff: int, out: Linear, keys: Keys) -> None:
    if isinstance(e, Const):
        out.const += coeff * int(e.value)
    elif isinstance(e, Add):
        _collect(e.a, coeff, out, keys)
        _collect(e.b, coeff, out, keys)
    elif isinstance(e, Sub):
        _collect(e.a, coeff, out, keys)
        _collect(e.b, -coeff, out, keys)
    elif isinstance(e, Mul) and isinstance(e.b, Const):
        _collect(e.a, coeff * int(e.b.value), out, keys)
    elif isinstance(e, Mul) and isinstance(e.a, Const):
        _collect(e.b, coeff * int(e.a.value), out, keys)
    elif isinstance(e, Mul):
        # (x*2) * (y*3) -> (x*y) * 6: a product of two monomials is a monomial
        a, b = linearize(e.a, keys).single(), linearize(e.b, keys).single()
        if a is not None and b is not None and (a[1] != 1 or b[1] != 1):
            term = Mul(a[0], b[0], e.dtype)
            out.add_term(keys(term), term, coeff * a[1] * b[1])
        else:
            out.add_term(keys(e), e, coeff)
    else:
        out.add_term(keys(e), e, coeff)


def _recombine_div_mod(out: Linear, keys: Keys) -> None:
    for key, (t, c) in list(out.terms.items()):
        if not (isinstance(t, FloorMod) and isinstance(t.b, Const) and t.b.value != 0 and key in out.terms):
            continue
        div_key = (FloorDiv, *key[1:])  # type: ignore[index]
        hit = out.terms.get(div_key)
        if hit is not None and hit[1] == c * int(t.b.value):
            del out.terms[key], out.terms[div_key]
            _collect(t.a, c, out, keys)


def rebuild(lin: Linear) -> Expr:
    """The expression of a form: terms in order, `x - c` rather than `x + -c`, constant last.

    A leading negative term puts the constant first instead: `5 - x`, `0 - x*3`.
    """
    dt = lin.dtype
    items = [(t, wrap(c, dt)) for t, c in lin.terms.values()]  # arithmetic modulo 2**bits stays exact
    items = [(t, c) for t, c in items if c != 0]
    const = wrap(lin.const, dt)
    if not items:
        return Const(const, dt)
    term, c = items[0]
    if c > 0:
        out = _times(term, c)
    else:
        out, const = Sub(Const(const, dt), _times(term, -c), dt), 0
    for term, c in items[1:]:
        out = Add(out, _times(term, c), dt) if c > 0 else Sub(out, _times(term, -c), dt)
    if const > 0:
        out = Add(out, Const(const, dt), dt)
    elif const < 0:
        out = Sub(out, Const(-const, dt), dt)
    return out


def wrap(v: int, dtype: str) -> int:
    """Two's-complement wrap-around of an integer to `dtype`, as the generated code computes it.

    int64 is left alone: index arithmetic is assumed not to overflow, and a conservative bound
    such as `max - min + 1` must stay huge rather than wrap to something small.
    """
    n = dtypes.bits(dtype)
    if n == 64:
        return v
    v &= (1 << n) - 1
    return v - (1 << n) if dtypes.is_signed(dtype) and v >= 1 << (n - 1) else v


def _times(term: Expr, c: int) -> Expr:
    return term if c == 1 else Mul(term, Const(c, term.dtype), term.dtype)
