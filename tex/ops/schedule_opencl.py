"""A correct, simple OpenCL schedule for any graph of tex.ops computes.

- injective stages that are not outputs are inlined into their consumers (as on the CPU);
- each output's spatial axes are fused into one loop, split into blocks of at most WORK_GROUP work-items and
  bound to blockIdx.x / threadIdx.x (guarded tails): one work-item per output element, any reduction runs
  inside that work-item. Several outputs share one launch: the same number of blocks, the smaller ones guarded;
- the other stages that remain (reductions feeding an output: softmax's max and sum, layer_norm's moments...)
  are computed at their output's threadIdx.x loop, so each work-item computes the part it reads. A module is
  one kernel with no grid-wide barrier, so a separate pass over an intermediate buffer would race; recomputing
  is the price of correctness here. Tuned kernels (tex/ops/opencl) are the fast path.
- a 0-d or symbolic output (the launch size must be known when built) leaves the kernel unbound, the
  intermediates still computed per output element; an intermediate read by two outputs or an output read by
  another leaves every stage unbound at the root: one work-item runs them in turn, slow but correct.
"""

from __future__ import annotations

from tex.lang import dsl
from tex.lang.tensor import ComputeOp, IterVar, Tensor
from tex.ops.schedule_common import extent, inline_injective
from tex.schedule import Schedule, Stage, create_schedule
from tex.schedule.schedule import AttachKind

WORK_GROUP = 64  # work-items per group along x, at most


def _size(st: Stage) -> int | None:
    """Number of output elements, None when 0-d or symbolic."""
    op = st.op
    assert isinstance(op, ComputeOp)
    exts = [extent(iv) for iv in op.axis]
    if not exts or None in exts:
        return None
    n = 1
    for e in exts:
        n *= e  # type: ignore[operator]
    return n


def _outputs_reached(s: Schedule, st: Stage, outs: list[Stage]) -> set[int]:
    """Indices of the outputs that read `st`, directly or through other stages."""
    seen: set[int] = set()
    found: set[int] = set()
    todo = list(s.consumers(st))
    while todo:
        c = todo.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        found.update(k for k, o in enumerate(outs) if o is c)
        todo.extend(s.consumers(c))
    return found


def _fuse(st: Stage) -> IterVar | None:
    """The output's axes fused into one loop (None when 0-d)."""
    op = st.op
    assert isinstance(op, ComputeOp)
    axes = list(op.axis)
    if not axes:
        return None
    return st.fuse(*axes) if len(axes) > 1 else axes[0]


def _bind(st: Stage, size: int, blocks: int) -> IterVar:
    """Fuse the output's axes, split into `blocks` parts bound to blockIdx.x, the rest threadIdx.x: WORK_GROUP
    work-items a block for the largest outputs, fewer for smaller ones (the launch is as wide as the widest)."""
    fused = _fuse(st)
    assert fused is not None
    if -(-size // WORK_GROUP) == blocks:
        bx, tx = st.split(fused, WORK_GROUP)
    else:
        bx, tx = st.split(fused, nparts=blocks)
    st.bind(bx, dsl.thread_axis("blockIdx.x"))
    st.bind(tx, dsl.thread_axis("threadIdx.x"))
    return tx


def schedule_default_opencl(outs: Tensor | list[Tensor]) -> Schedule:
    """One work-item per output element (blockIdx.x / threadIdx.x over each fused output), producers inlined
    or computed inside the work-item; an unbound kernel where that would race or the size is unknown."""
    outs = [outs] if isinstance(outs, Tensor) else list(outs)
    s = create_schedule(outs)
    inline_injective(s)
    out_stages = [s[t] for t in outs]
    if any(_outputs_reached(s, st, out_stages) for st in out_stages):
        return s  # an output read by another: its elements come from other work-groups
    rest = [st for st in s.stages if isinstance(st.op, ComputeOp) and st.attach is AttachKind.ROOT
            and not st.is_output]
    owner = [_outputs_reached(s, st, out_stages) for st in rest]
    if any(len(o) != 1 for o in owner):
        return s  # an intermediate read by two outputs would be attached to one only
    sizes = [_size(st) for st in out_stages]
    loops: list[IterVar | None]
    if all(n is not None for n in sizes):
        blocks = max(-(-n // WORK_GROUP) for n in sizes if n is not None)
        loops = [_bind(st, n, blocks) for st, n in zip(out_stages, sizes) if n is not None]
    else:  # unbound, but each intermediate still per output element: its buffer keeps a constant size
        loops = [_fuse(st) for st in out_stages]
    for st, o in reversed(list(zip(rest, owner))):  # consumers first, all at their output's loop
        k = o.pop()
        loop = loops[k]
        if loop is not None:
            st.compute_at(out_stages[k], loop)
    return s
