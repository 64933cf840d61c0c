"""What the default schedules of every target share: which stages are injective, static extents, inlining."""

from __future__ import annotations

from tex.lang.expr import Const
from tex.lang.tensor import ComputeOp, IterVar
from tex.schedule import Schedule

INJECTIVE_TAGS = frozenset({"elemwise", "broadcast", "injective"})


def extent(iv: IterVar) -> int | None:
    """The loop's extent as an int, None when symbolic."""
    ext = iv.dom.extent if iv.dom is not None else None
    return int(ext.value) if isinstance(ext, Const) else None


def inline_injective(s: Schedule) -> None:
    """Inline every injective stage that is not an output into its consumers."""
    for st in s.stages:
        op = st.op
        if isinstance(op, ComputeOp) and not op.reduce_axis and not st.is_output and op.tag in INJECTIVE_TAGS:
            st.compute_inline()
