"""The one explicit list of loop-IR passes, run in order; no registry.

`TEX_DEBUG=ir` prints the IR after each pass, `TEX_DEBUG=verify` checks it after each pass.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tex.config import debug_flags
from tex.ir.nodes import PrimFunc

Pass = Callable[[PrimFunc], PrimFunc]


def passes(phase: str) -> list[Pass]:
    """`lower`: what `tex.lower` shows; `build`: what runs before code generation."""
    from tex.ir.transform.partition import partition_loops
    from tex.ir.transform.simplify import simplify_func
    from tex.ir.transform.vectorize import vectorize_loops

    if phase == "lower":
        return [simplify_func, partition_loops]
    if phase == "build":
        return [vectorize_loops, simplify_func]
    raise ValueError(f"unknown pass phase {phase!r}")


def run_passes(func: PrimFunc, phase: str) -> PrimFunc:
    flags = debug_flags()
    for p in passes(phase):
        func = p(func)
        if "verify" in flags:
            from tex.ir.verify import verify

            verify(func)
        if "ir" in flags:
            print(f"# after {p.__name__}\n{func}\n", file=sys.stderr)
    return func
