"""Schedule records: how leaf loops derive from an operation's root axes.

Each primitive appends one record to its Stage; only lowering interprets them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang.tensor import IterVar


@dataclass(frozen=True, slots=True)
class Split:
    """`parent = outer * factor + inner`, inner in [0, factor), outer in [0, ceil(extent / factor)).

    With `nparts`, factor = ceil(extent / nparts). Values with `parent >= extent` (the tail of a
    non-dividing factor) are skipped by a guard or a shortened inner loop.
    """

    parent: IterVar
    outer: IterVar
    inner: IterVar
    factor: int | None
    nparts: int | None


@dataclass(frozen=True, slots=True)
class Fuse:
    """`fused = outer * extent(inner) + inner`, so `outer = fused // extent(inner)`, `inner = fused % extent(inner)`."""

    outer: IterVar
    inner: IterVar
    fused: IterVar


Relation = Split | Fuse
