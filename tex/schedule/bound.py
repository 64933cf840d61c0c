"""Bound inference: loop extents from split/fuse records, and the region a compute_at stage must produce.

For a stage S computed at loop `ivar` of stage P, the region of S needed by one iteration of `ivar`
is the hull of every access to S made by P (and by stages computed inside P under `ivar`) when the
loops inside `ivar` range over their extents and the loops outside it stay fixed. Its min is an
expression of those outer loop variables; its extent must be a constant (allocations are static),
else the whole tensor is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tex.ir.nodes import BufferLoad
from tex.lang import dtypes
from tex.lang.expr import Const, Expr, Max, Min, Var, binary
from tex.lang.functor import collect
from tex.lang.simplify import const_bounds, simplify, symbolic_bounds
from tex.lang.tensor import IterVar, TensorLoad
from tex.schedule.relations import Fuse, Split
from tex.schedule.schedule import Stage

Ranges = dict[Var, tuple[Expr, Expr]]


def _c(v: int) -> Const:
    return Const(v, dtypes.INDEX)


def ceil_div(a: Expr, b: int) -> Expr:
    return simplify((a + (b - 1)) // b)


@dataclass
class LoopInfo:
    """Extents of a stage's iteration variables and the values of its root axes in terms of its leaf loops.

    `value[root]` is the 0-based offset of a root axis; the tensor coordinate is `base[root] + value[root]`.
    """

    extent: dict[IterVar, Expr] = field(default_factory=dict)
    value: dict[IterVar, Expr] = field(default_factory=dict)
    base: dict[IterVar, Expr] = field(default_factory=dict)

    def leaf_ranges(self, leaves: list[IterVar]) -> Ranges:
        return {iv.var: (_c(0), self.extent[iv]) for iv in leaves}


def loop_info(stage: Stage, root_extent: dict[IterVar, Expr], base: dict[IterVar, Expr]) -> LoopInfo:
    """Propagate extents down the split/fuse records and root values up from the leaves."""
    info = LoopInfo(extent=dict(root_extent), base=dict(base))
    for rel in stage.relations:
        if isinstance(rel, Split):
            e = info.extent[rel.parent]
            if rel.factor is not None:
                info.extent[rel.outer] = ceil_div(e, rel.factor)
                info.extent[rel.inner] = _c(rel.factor)
            else:
                assert rel.nparts is not None
                info.extent[rel.outer] = _c(rel.nparts)
                info.extent[rel.inner] = ceil_div(e, rel.nparts)
        else:
            info.extent[rel.fused] = simplify(info.extent[rel.outer] * info.extent[rel.inner])
    value: dict[IterVar, Expr] = {iv: iv.var for iv in stage.leaf_iter_vars}
    for rel in reversed(stage.relations):
        if isinstance(rel, Split):
            value[rel.parent] = value[rel.outer] * info.extent[rel.inner] + value[rel.inner]
        elif isinstance(rel, Fuse):
            inner_ext = info.extent[rel.inner]
            value[rel.outer] = value[rel.fused] // inner_ext
            value[rel.inner] = value[rel.fused] % inner_ext
    ranges = info.leaf_ranges(stage.leaf_iter_vars)
    info.value = {iv: simplify(v, ranges) for iv, v in value.items()}
    return info


def hull(parts: list[tuple[Expr, Expr]], ranges: Ranges) -> tuple[Expr, Expr]:
    """The smallest interval [lo, hi] (inclusive) holding every part."""
    lo, hi = parts[0]
    for a, b in parts[1:]:
        lo = _pick(lo, a, ranges, smaller=True)
        hi = _pick(hi, b, ranges, smaller=False)
    return lo, hi


def _pick(x: Expr, y: Expr, ranges: Ranges, smaller: bool) -> Expr:
    d = const_bounds(simplify(x - y, ranges), ranges)
    if d[0] is not None and d[1] is not None and d[0] == d[1]:
        if smaller:
            return x if d[0] <= 0 else y
        return x if d[0] >= 0 else y
    return simplify(binary(Min if smaller else Max, x, y), ranges)


def access_region(indices: list[tuple[Expr, ...]], relax: Ranges, fixed: Ranges,
                  shape: tuple[Expr, ...], clip: bool = True) -> tuple[list[Expr], list[Expr]]:
    """Per dimension, the min and (constant when possible) extent covering all `indices`; with `clip`, an
    extent reaching the dimension's size becomes the whole axis (no offset, no guard)."""
    mins: list[Expr] = []
    exts: list[Expr] = []
    for d, dim in enumerate(shape):
        parts = []
        for idx in indices:
            parts.append(symbolic_bounds(idx[d], relax, fixed))
        lo, hi = hull(parts, fixed)
        ext = simplify(hi - lo + 1, fixed)
        if not isinstance(ext, Const):
            upper = const_bounds(ext, {**fixed, **relax})[1]
            ext = _c(upper) if upper is not None else None  # type: ignore[assignment]
        if ext is None or collect(lo, lambda n: isinstance(n, (TensorLoad, BufferLoad))):
            lo, ext = _c(0), dim
        elif clip and isinstance(dim, Const) and isinstance(ext, Const) and ext.value >= dim.value:
            lo, ext = _c(0), dim  # the whole axis: no offset arithmetic, no guard
        mins.append(lo)
        exts.append(ext)
    return mins, exts


def enclosing_loops(stage: Stage) -> list[tuple[Stage, IterVar]]:
    """The loops around a compute_at stage, innermost first: its attach loop and the loops outside it,
    up the attach chain to the root, each with the stage that owns it."""
    out: list[tuple[Stage, IterVar]] = []
    st = stage
    while st.attach_stage is not None and st.attach_ivar is not None:
        parent = st.attach_stage
        if st.attach_ivar not in parent.leaf_iter_vars:
            break  # reported by lowering's leaf check
        pos = parent.leaf_iter_vars.index(st.attach_ivar)
        out += [(parent, iv) for iv in reversed(parent.leaf_iter_vars[:pos + 1])]
        st = parent
    return out


def needs_relax(scope: str, thread_tag: str) -> bool:
    """Whether a loop bound to `thread_tag` around a stage of `scope` is relaxed in its region (TVM's
    `NeedRelax`): a "shared" buffer is one per work-group, so it covers every threadIdx of the group;
    blockIdx loops stay fixed, and "local"/"global" stages are per loop iteration as usual."""
    return scope == "shared" and thread_tag.startswith("threadIdx")
