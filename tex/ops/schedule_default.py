"""A decent CPU schedule for any graph of tex.ops computes, chosen by each stage's tag.

- injective stages (tags elemwise / broadcast / injective) that are not outputs are inlined into their consumers;
- an injective root stage: outer axes fused and run in parallel, the last axis split by the vector width and
  vectorized (the tail is guarded); a layout transform into NCHW[b]c vectorizes its channel block instead;
- a reduction: outer spatial axes fused and parallel; for products and convolutions (dense, matmul, conv2d,
  pool...) the last spatial axis is split by the vector width and its inner part moved inside the reduction
  and vectorized, so each reduction step updates a vector of outputs;
- products (matmul, dense, batch_matmul) get a register tile: 8 rows x one vector of columns, the reduction
  split by 4 and unrolled around it; convolutions tile 8 output channels x one vector of output columns, with
  the padding computed in its own pass.
"""

from __future__ import annotations

import math

from tex.lang import dtypes
from tex.lang.tensor import ComputeOp, IterVar, Tensor
from tex.ops.layout import parse_layout
from tex.ops.schedule_common import extent as _extent
from tex.ops.schedule_common import inline_injective
from tex.ops.schedule_opencl import schedule_default_opencl
from tex.schedule import Schedule, Stage, create_schedule
from tex.schedule.schedule import AttachKind

VECTOR_REDUCE_TAGS = frozenset({"pool"})
PRODUCT_TAGS = frozenset({"dense", "matmul", "batch_matmul"})
CONV_TAGS = frozenset({"conv2d_nchw", "depthwise_conv2d_nchw"})
TILE_ROWS = 8  # rows (or output channels) of a register tile: 8 vector accumulators
VECTOR_BYTES = 64  # one AVX-512 register; narrower machines split it in two
PARALLEL_MIN_WORK = 16384  # below this a parallel region costs more than it saves


def _work(ivs: list[IterVar]) -> int:
    total = 1
    for iv in ivs:
        ext = _extent(iv)
        total *= ext if ext is not None else 1024
    return total


def _lanes(op: ComputeOp) -> int:
    return max(1, VECTOR_BYTES // (dtypes.itemsize(op.dtype) if op.dtype != "bool" else 1))


def _parallel_outer(st: Stage, outer: list[IterVar], work: int) -> IterVar | None:
    """Fuse `outer` (adjacent loops) into one, parallel when there is enough work; returns the fused loop."""
    if not outer:
        return None
    fused = st.fuse(*outer) if len(outer) > 1 else outer[0]
    if work >= PARALLEL_MIN_WORK:
        st.parallel(fused)
    return fused


def schedule_injective(st: Stage) -> IterVar | None:
    """Outer axes fused and parallel, the last split by the vector width and vectorized; returns the outer loop."""
    op = st.op
    assert isinstance(op, ComputeOp)
    axes = list(op.axis)
    if not axes:
        return None
    lanes, last = _lanes(op), axes[-1]
    ext = _extent(last)
    work = _work(axes)
    if ext is not None and ext >= lanes:
        lo, li = st.split(last, lanes)
        st.vectorize(li)
        return _parallel_outer(st, axes[:-1] or [lo], work)
    return _parallel_outer(st, axes[:-1] or [last], work)


def schedule_layout_transform(st: Stage) -> None:
    """NCHW[a]c -> NCHW[b]c (a may be absent): n, co, h fused and parallel, then w, then the block axis split by
    v = the largest divisor of gcd(a, b) (of b from NCHW) within the vector width, the inner v vectorized: a
    blocked source is copied one contiguous vector at a time; from NCHW, w is split by 8 and unrolled around
    the vector so each row of w is read 8 channels at a time. -> NCHW, or v < 4, is `schedule_injective`."""
    op = st.op
    assert isinstance(op, ComputeOp)
    attrs = dict(op.attrs)
    a, b = parse_layout(str(attrs["src_layout"])), parse_layout(str(attrs["dst_layout"]))
    g = 0 if b is None else b if a is None else math.gcd(a, b)
    v = max((d for d in range(1, min(g, _lanes(op)) + 1) if g % d == 0), default=0)
    if v < 4:
        schedule_injective(st)
        return
    n, co, h, w, ci = op.axis
    cio, cii = _split_if(st, ci, v)
    wo, wi = _split_if(st, w, 8) if a is None else (None, w)
    if a is None:
        st.reorder(n, co, h, *([wo] if wo else []), *([cio] if cio else []), wi, cii)
        st.unroll(wi)
    else:
        st.reorder(n, co, h, w, *([cio] if cio else []), cii)
    st.vectorize(cii)
    _parallel_outer(st, [n, co, h], _work(list(op.axis)))


def schedule_reduce(st: Stage) -> None:
    """Outer spatial axes parallel; products and convolutions vectorize their last spatial axis."""
    op = st.op
    assert isinstance(op, ComputeOp)
    spatial, red = list(op.axis), list(op.reduce_axis)
    work = _work(spatial + red)
    if not spatial:
        return
    last = spatial[-1]
    ext = _extent(last)
    lanes = _lanes(op)
    if op.tag in VECTOR_REDUCE_TAGS and ext is not None and ext >= lanes:
        lo, li = st.split(last, lanes)
        st.reorder(*spatial[:-1], lo, *red, li)
        st.vectorize(li)
        _parallel_outer(st, spatial[:-1] or [lo], work)
    elif op.tag in VECTOR_REDUCE_TAGS and ext is not None and ext >= 4 and lanes % ext == 0:
        # a short power-of-two last axis (the 8 of an NCHW8c pool) is one vector as it is
        st.reorder(*spatial[:-1], *red, last)
        st.vectorize(last)
        _parallel_outer(st, spatial[:-1], work)
    else:
        _parallel_outer(st, spatial, work)


def _split_if(st: Stage, iv: IterVar, factor: int) -> tuple[IterVar | None, IterVar]:
    """Split `iv` by `factor` when its extent is larger; else leave it whole (outer None)."""
    ext = _extent(iv)
    if ext is not None and ext <= factor:
        return None, iv
    return st.split(iv, factor)


def schedule_product(st: Stage) -> None:
    """out[b.., i, j] = sum_k: loops b.., i.o, j.o, k.o, k.i (unrolled), i.i (unrolled), j.i (vectorized)."""
    op = st.op
    assert isinstance(op, ComputeOp)
    *batch, i, j = op.axis
    red = list(op.reduce_axis)
    work = _work(list(op.axis) + red)
    io, ii = _split_if(st, i, TILE_ROWS)
    jo, ji = _split_if(st, j, _lanes(op))
    ko, ki = _split_if(st, red[0], 4) if op.tag != "dense" else (None, red[0])
    outer = [*batch, *([io] if io else [])]
    st.reorder(*outer, *([jo] if jo else []), *([ko] if ko else []), ki, *red[1:], ii, ji)
    st.unroll(ii)
    if ko is not None:
        st.unroll(ki)
    st.vectorize(ji)
    _parallel_outer(st, outer or ([jo] if jo else []), work)


def schedule_conv(st: Stage) -> None:
    """out[n, oc, oh, ow]: loops n, oc.o, oh, ow.o, rc, ry, rx (unrolled), oc.i (unrolled), ow.i (vectorized);
    depthwise convolutions read a different input channel per oc, so they keep oc whole."""
    op = st.op
    assert isinstance(op, ComputeOp)
    n, oc, oh, ow = op.axis
    red = list(op.reduce_axis)
    work = _work(list(op.axis) + red)
    oco, oci = _split_if(st, oc, TILE_ROWS) if op.tag == "conv2d_nchw" else (oc, None)
    owo, owi = _split_if(st, ow, _lanes(op))
    outer = [n, *([oco] if oco else []), oh]
    st.reorder(*outer, *([owo] if owo else []), *red, *([oci] if oci else []), owi)
    st.unroll(red[-1])
    if oci is not None:
        st.unroll(oci)
    st.vectorize(owi)
    _parallel_outer(st, outer, work)


def schedule_default(outs: Tensor | list[Tensor], target: object = "llvm") -> Schedule:
    """A schedule for `outs` picked per stage by tag for an llvm (CPU) target; opencl targets get
    `schedule_default_opencl`."""
    tstr = str(getattr(target, "kind", target) or "llvm")
    if tstr.startswith("opencl"):
        return schedule_default_opencl(outs)
    if not tstr.startswith("llvm"):
        raise NotImplementedError(f"schedule_default: no default schedule for target {tstr!r} yet (llvm and "
                                  "opencl only); write one with bind() for GPUs")
    outs = [outs] if isinstance(outs, Tensor) else list(outs)
    s = create_schedule(outs)
    inline_injective(s)
    for st in s.stages:
        op = st.op
        if isinstance(op, ComputeOp) and op.tag in CONV_TAGS:
            for t in op.input_tensors():  # the padding: its own parallel pass, so the conv's loop has no selects
                pst = s[t]
                if isinstance(pst.op, ComputeOp) and pst.op.name == "pad" and pst.attach is AttachKind.INLINE:
                    pst.compute_root()
    for st in s.stages:
        op = st.op
        if not isinstance(op, ComputeOp) or st.attach is not AttachKind.ROOT:
            continue
        if op.tag in PRODUCT_TAGS:
            schedule_product(st)
        elif op.tag in CONV_TAGS:
            schedule_conv(st)
        elif op.reduce_axis:
            schedule_reduce(st)
        elif "dst_layout" in dict(op.attrs):
            schedule_layout_transform(st)
        else:
            schedule_injective(st)
    return s
