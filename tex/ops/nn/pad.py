"""Constant padding (tag "injective"): out[i] = x[i - before] inside x, else `value`."""

from __future__ import annotations

from collections.abc import Sequence

from tex.lang import dsl
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import as_tensor_check

INJECTIVE = "injective"


def maybe_pad(x: Tensor, pads_before: Sequence[int], pads_after: Sequence[int], value: float | int = 0) -> Tensor:
    """pad(), or x itself when every pad is 0 (inside operators: no copy stage)."""
    if not any(pads_before) and not any(pads_after):
        return x
    return pad(x, pads_before, pads_after, value)


def pad(x: Tensor, pads_before: Sequence[int], pads_after: Sequence[int] | None = None, value: float | int = 0,
        name: str = "pad") -> Tensor:
    """x with `pads_before[d]` / `pads_after[d]` elements of `value` around dim d (non-negative pads)."""
    as_tensor_check(x, "pad", "x")
    before = [int(p) for p in pads_before]
    after = [int(p) for p in (pads_after if pads_after is not None else pads_before)]
    if len(before) != x.ndim or len(after) != x.ndim:
        raise ValueError(f"pad: tensor '{x.name}' has {x.ndim} dims, got {len(before)} pads before and "
                         f"{len(after)} after")
    if any(p < 0 for p in before + after):
        raise ValueError(f"pad: pads must be non-negative, got before={tuple(before)} after={tuple(after)}")
    shape = tuple(s + b + a for s, b, a in zip(x.shape, before, after))
    fill = E.const(value, x.dtype)

    def f(*i: Expr) -> Expr:
        conds: list[Expr] = []
        for d, (v, b, a) in enumerate(zip(i, before, after)):
            if b:
                conds.append(v >= b)
            if a:
                conds.append(v < x.shape[d] + b)
        inside = x[tuple(v - b for v, b in zip(i, before))]
        return dsl.if_then_else(dsl.all(*conds), inside, fill) if conds else inside

    return dsl.compute(shape, f, name=name, tag=INJECTIVE)
