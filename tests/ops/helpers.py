"""One helper for the operator tests: build an op graph under a schedule, run it, compare with numpy.

Schedules (SCHEDULES):
- "default": tex.ops.schedule_default;
- "stress_inline": injective producers inlined, reductions computed at their consumer; every stage split by
  factors that do not divide (3, 5), outer loop parallel, inner loop vectorized, the reduction's inner split
  unrolled;
- "stress_at": the same, but every single-consumer producer is computed at its consumer (compute_at).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import tex
from tex.lang.expr import Const
from tex.lang.tensor import ComputeOp, IterVar, Tensor
from tex.schedule.schedule import AttachKind, Schedule, Stage

SCHEDULES = ("default", "stress_inline", "stress_at")
INJECTIVE = ("elemwise", "broadcast", "injective")


def rand(shape: Sequence[int], dtype: str = "float32", rng: np.random.Generator | None = None,
         lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    rng = rng or np.random.default_rng(0)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100) + 1, size=shape).astype(dtype)
    return rng.uniform(lo, hi, size=shape).astype(dtype)


def _effective_consumers(s: Schedule, st: Stage) -> list[Stage]:
    """Consumers of `st`, looking through inlined stages."""
    out: list[Stage] = []
    for c in s.consumers(st):
        if c.attach is AttachKind.INLINE:
            out.extend(x for x in _effective_consumers(s, c) if x not in out)
        elif c not in out:
            out.append(c)
    return out


def _split_loops(st: Stage, factors: tuple[int, int, int], parallel: bool) -> None:
    """Split the first and last spatial axes and the first reduce axis by non-dividing factors; parallel the
    outermost loop, vectorize the innermost spatial loop, unroll the reduction's (or the first axis') inner."""
    op = st.op
    assert isinstance(op, ComputeOp)
    spatial, red = list(op.axis), list(op.reduce_axis)
    if not spatial:
        return
    f_first, f_last, f_red = factors
    last_o, last_i = st.split(spatial[-1], f_last)
    big = [iv for iv in spatial[:-1] if not isinstance(iv.dom.extent, Const) or iv.dom.extent.value > 1]
    if big:  # split (and later parallelize) the outermost axis that has more than one iteration
        d = spatial.index(big[0])
        first_o, first_i = st.split(spatial[d], f_first)
        head = [*spatial[:d], first_o, first_i, *spatial[d + 1:-1], last_o]
    else:
        first_o, first_i = last_o, None
        head = [*spatial[:-1], last_o]
    tail: list[IterVar] = []
    if red:
        ro, ri = st.split(red[0], f_red)
        tail = [ro, ri, *red[1:]]
        st.unroll(ri)
    elif first_i is not None:
        st.unroll(first_i)
    st.reorder(*head, *tail, last_i)
    st.vectorize(last_i)
    if parallel:
        st.parallel(first_o)


def stress_schedule(outs: Tensor | list[Tensor], at: bool, factors: tuple[int, int, int] = (3, 5, 3)) -> Schedule:
    outs = [outs] if isinstance(outs, Tensor) else list(outs)
    s = tex.create_schedule(outs)
    computes = [st for st in s.stages if isinstance(st.op, ComputeOp)]
    if not at:
        for st in computes:
            if not st.is_output and not st.op.reduce_axis and st.op.tag in INJECTIVE:
                st.compute_inline()
    for st in reversed(computes):  # consumers first: their loops exist before producers attach to them
        if st.attach is AttachKind.INLINE:
            continue
        consumers = _effective_consumers(s, st)
        if not st.is_output and len(consumers) == 1 and consumers[0].leaf_iter_vars:
            parent = consumers[0]
            leaves = parent.leaf_iter_vars
            st.compute_at(parent, leaves[1] if len(leaves) > 2 else leaves[0])
            _split_loops(st, factors, parallel=False)
        else:
            _split_loops(st, factors, parallel=True)
    return s


def make_schedule(kind: str, outs: Tensor | list[Tensor]) -> Schedule:
    if kind == "default":
        return tex.ops.schedule_default(outs)
    if kind == "stress_inline":
        return stress_schedule(outs, at=False)
    if kind == "stress_at":
        return stress_schedule(outs, at=True)
    raise ValueError(f"unknown schedule kind {kind!r}")


def check(kind: str | Callable[[list[Tensor]], Schedule], inputs: Sequence[Tensor], outs: Tensor | list[Tensor],
          ref: Callable[..., np.ndarray | Sequence[np.ndarray]], data: Sequence[np.ndarray] | None = None,
          rtol: float = 1e-5, atol: float = 1e-5, seed: int = 0) -> list[np.ndarray]:
    """Build `outs` from `inputs` under schedule `kind`, run on `data` (random by default), compare with
    `ref(*data)`; returns the outputs. Outputs start as garbage so an unwritten element fails."""
    outs_l = [outs] if isinstance(outs, Tensor) else list(outs)
    s = make_schedule(kind, outs_l) if isinstance(kind, str) else kind(outs_l)
    f = tex.build(s, [*inputs, *outs_l])
    rng = np.random.default_rng(seed)
    if data is None:
        data = [rand(t.shape, t.dtype, rng) for t in inputs]
    results = []
    for t in outs_l:
        garbage = np.full(t.shape, 77, dtype=t.dtype) if t.dtype != "bool" else np.ones(t.shape, bool)
        if np.issubdtype(np.dtype(t.dtype), np.floating):
            garbage[...] = np.nan
        results.append(garbage)
    f(*data, *results)
    expected = ref(*data)
    expected_l = [expected] if isinstance(expected, np.ndarray) or np.isscalar(expected) else list(expected)
    for got, want, t in zip(results, expected_l, outs_l):
        want = np.asarray(want)
        assert got.shape == want.shape, f"{t.name}: shape {got.shape} != numpy's {want.shape}"
        if np.issubdtype(got.dtype, np.floating):
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                       err_msg=f"output {t.name} under schedule {kind}")
        else:
            np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=f"output {t.name} under {kind}")
    return results
