"""Layout transforms between NCHW and the packed NCHW[b]c layout (tag "injective").

NCHW[b]c has shape (N, C/b, H, W, b): channel c lives at [n, c // b, h, w, c % b]. So
  NCHW -> NCHWbc:  out[n, co, h, w, ci] = x[n, co * b + ci, h, w]
  NCHWbc -> NCHW:  out[n, c, h, w]      = x[n, c // b, h, w, c % b]
  NCHWac -> NCHWbc: out[n, co, h, w, ci] = x[n, (co * b + ci) // a, h, w, (co * b + ci) % a]  (one stage)
"""

from __future__ import annotations

import re

from tex.lang import dsl
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import as_tensor_check, static_shape

INJECTIVE = "injective"
_BLOCKED = re.compile(r"NCHW([0-9]+)c")


def parse_layout(layout: str, where: str = "parse_layout", arg: str = "layout") -> int | None:
    """The block size of "NCHW<b>c" (b >= 1), None for "NCHW"; anything else is a ValueError naming `arg`."""
    if not isinstance(layout, str):
        raise TypeError(f"{where}: {arg} must be a str like 'NCHW' or 'NCHW8c', got {type(layout).__name__}")
    if layout == "NCHW":
        return None
    m = _BLOCKED.fullmatch(layout)
    if m is None or m.group(1).startswith("0"):
        raise ValueError(f"{where}: {arg} must be 'NCHW' or 'NCHW<b>c' with b a positive int (e.g. 'NCHW8c'), "
                         f"got {layout!r}")
    return int(m.group(1))


def _channels(x: Tensor, block: int | None, layout: str, where: str) -> tuple[int, int, int, int]:
    """(N, C, H, W) of `x`, checked against its claimed layout."""
    shape = static_shape(x, where)
    if block is None:
        if len(shape) != 4:
            raise ValueError(f"{where}: tensor '{x.name}' in layout NCHW must be 4-D, got shape {shape}")
        return shape  # type: ignore[return-value]
    if len(shape) != 5 or shape[4] != block:
        raise ValueError(f"{where}: tensor '{x.name}' in layout {layout} must be 5-D (N, C/{block}, H, W, {block}), "
                         f"got shape {shape}")
    n, co, h, w, _ = shape
    return n, co * block, h, w


def layout_transform(x: Tensor, src: str, dst: str, name: str = "layout_transform") -> Tensor:
    """`x` (in layout `src`) re-laid out as `dst`; both 'NCHW' or 'NCHW<b>c'. Equal layouts return x itself."""
    where = "layout_transform" if name == "layout_transform" else f"layout_transform '{name}'"
    as_tensor_check(x, where, "x")
    a, b = parse_layout(src, where, "src"), parse_layout(dst, where, "dst")
    n, c, h, w = _channels(x, a, src, where)
    if src == dst:
        return x
    attrs = {"src_layout": src, "dst_layout": dst}  # schedule_default reads these to pick the loop order
    if b is None:  # -> NCHW; a is not None here
        assert a is not None
        return dsl.compute((n, c, h, w), lambda nn, cc, hh, ww: x[nn, cc // a, hh, ww, cc % a],
                           name=name, tag=INJECTIVE, attrs=attrs)
    if c % b:
        raise ValueError(f"{where}: tensor '{x.name}' has {c} channels, not a multiple of the block size {b} "
                         f"of {dst!r}")

    def f(nn: Expr, co: Expr, hh: Expr, ww: Expr, ci: Expr) -> Expr:
        ch = co * b + ci
        if a is None:
            return x[nn, ch, hh, ww]
        return x[nn, ch // a, hh, ww, ch % a]

    return dsl.compute((n, c // b, h, w, b), f, name=name, tag=INJECTIVE, attrs=attrs)
