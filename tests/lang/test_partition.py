"""Loop partitioning (tex/ir/transform/partition.py): guarded tails of splits that do not divide.

Every kernel is also built and compared with numpy: partitioning must never change a result.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex.ir.nodes import For, ForKind, IfThenElse
from tex.lang.functor import collect
from tex.ops import matmul


def _loops(func: object) -> list[For]:
    return collect(func.body, lambda n: isinstance(n, For))  # type: ignore[attr-defined]


def _guards(func: object) -> list[IfThenElse]:
    return collect(func.body, lambda n: isinstance(n, IfThenElse))  # type: ignore[attr-defined]


def _row_tiles(n: int, factor: int, inner: str = "unroll") -> tuple[tex.Schedule, list[tex.Tensor]]:
    """B[i] = A[i] * 2 + 1 with i split by `factor` (serial outer, unrolled or serial inner)."""
    a = tex.placeholder((n,), name="A")
    b = tex.compute((n,), lambda i: a[i] * 2.0 + 1.0, name="B")
    s = tex.create_schedule(b)
    _, xi = s[b].split(b.op.axis[0], factor)
    if inner == "unroll":
        s[b].unroll(xi)
    return s, [a, b]


def _check(s: tex.Schedule, args: list[tex.Tensor], fn: object) -> None:
    f = tex.build(s, args)
    shapes = [tuple(int(d) for d in t.shape) for t in args]
    ins = [np.random.default_rng(0).standard_normal(sh).astype(np.float32) for sh in shapes[:-1]]
    out = np.full(shapes[-1], np.nan, np.float32)
    f(*ins, out)
    np.testing.assert_allclose(out, fn(*ins), rtol=1e-5, atol=1e-5)  # type: ignore[operator]


def test_tail_split_off_and_head_unguarded() -> None:
    s, args = _row_tiles(10, 4)  # tiles 4, 4 and a tail of 2
    func = tex.lower(s, args)
    # the head loop runs the two full tiles; the one-iteration tail is inlined with its loop tightened
    assert [(lp.kind, int(lp.extent.value)) for lp in _loops(func)] == [
        (ForKind.SERIAL, 2), (ForKind.UNROLLED, 4), (ForKind.UNROLLED, 2)]
    assert not _guards(func)
    assert "B[i.inner + 8]" in str(func)
    _check(s, args, lambda a: a * 2 + 1)


def test_dividing_split_is_left_alone() -> None:
    s, args = _row_tiles(12, 4)
    func = tex.lower(s, args)
    assert len(_loops(func)) == 2 and not _guards(func)


def test_guard_that_holds_on_no_prefix_stays() -> None:
    """`if i >= 3` fails on the first iteration: no prefix to split off, the guard stays."""
    a = tex.placeholder((8,), name="A")
    b = tex.compute((8,), lambda i: tex.if_then_else(i >= 3, a[i], 0.0), name="B")
    s = tex.create_schedule(b)
    func = tex.lower(s, [a, b])
    assert len([lp for lp in _loops(func) if lp.kind is ForKind.SERIAL]) == 1
    _check(s, [a, b], lambda x: np.where(np.arange(8) >= 3, x, 0))


def test_parallel_loop_is_not_partitioned() -> None:
    a = tex.placeholder((10, 4), name="A")
    b = tex.compute((10, 4), lambda i, j: a[i, j] + 1.0, name="B")
    s = tex.create_schedule(b)
    xo, _ = s[b].split(b.op.axis[0], 4)
    s[b].parallel(xo)
    func = tex.lower(s, [a, b])
    assert len([lp for lp in _loops(func) if lp.kind is ForKind.PARALLEL]) == 1
    _check(s, [a, b], lambda x: x + 1)


def test_register_tile_with_reduction_and_cache_write() -> None:
    """A matmul with a local register tile whose columns do not divide: head tiles of 4, a tail of 3,
    each with its own accumulator allocation."""
    a, w = tex.placeholder((5, 6), name="A"), tex.placeholder((6, 11), name="W")
    c = matmul(a, w)  # tex.ops, the library compute
    s = tex.create_schedule(c)
    cl = s.cache_write(c, "local")
    i, j = s[c].op.axis
    jo, ji = s[c].split(j, 4)
    s[c].reorder(i, jo, ji)
    s[cl].compute_at(s[c], jo)
    s[cl].unroll(s[cl].op.axis[1])
    func = tex.lower(s, [a, w, c])
    assert not _guards(func)
    _check(s, [a, w, c], lambda x, y: x @ y)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), factor=st.integers(1, 9), m=st.integers(1, 9), factor2=st.integers(1, 5),
       inner=st.sampled_from(["unroll", "serial"]))
def test_partitioned_kernels_match_numpy(n: int, factor: int, m: int, factor2: int, inner: str) -> None:
    """Two nested splits that may or may not divide, over a 2-D elementwise kernel."""
    a = tex.placeholder((n, m), name="A")
    b = tex.compute((n, m), lambda i, j: a[i, j] * 3.0 - 1.0, name="B")
    s = tex.create_schedule(b)
    i, j = b.op.axis
    io, ii = s[b].split(i, factor)
    jo, ji = s[b].split(j, factor2)
    s[b].reorder(io, jo, ii, ji)
    if inner == "unroll":
        s[b].unroll(ji)
    _check(s, [a, b], lambda x: x * 3 - 1)


@pytest.mark.parametrize(("ow", "reg_n"), [(7, 4), (14, 6), (9, 5)])
def test_conv_register_tiles_with_tails(ow: int, reg_n: int) -> None:
    """The x86 conv's register tile across a row it does not divide: correct, and no guard in the
    reduction (the tail runs a narrower tile)."""
    from tex.ops.reference import conv2d_reference, from_blocked, to_blocked
    from tex.ops.x86.conv2d import Conv2dBlocking, conv2d_nchwc, pack_conv_weight, schedule_conv2d_nchwc

    blk = Conv2dBlocking(ic_bn=8, oc_bn=8, reg_n=reg_n)
    t = conv2d_nchwc((1, 16, ow, ow), (16, 16, 3, 3), padding=(1, 1, 1, 1), blocking=blk, prepacked_weight=True,
                     data_blocked=True, out_blocked=True)
    s = tex.create_schedule(t.out)
    schedule_conv2d_nchwc(s, t, blk)
    func = tex.lower(s, [t.data, t.weight, t.out])
    reduce_loops = [lp for lp in _loops(func) if lp.var.name.startswith("rc.inner")]
    assert reduce_loops and not any(_guards(lp) for lp in reduce_loops)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 16, ow, ow), dtype=np.float32), rng.standard_normal((16, 16, 3, 3), dtype=np.float32)
    f = tex.build(s, [t.data, t.weight, t.out])
    out = np.full(tuple(int(d) for d in t.out.shape), np.nan, np.float32)
    f(to_blocked(x, 8), pack_conv_weight(w, 8, 8), out)
    np.testing.assert_allclose(from_blocked(out), conv2d_reference(x, w, (1, 1), (1, 1, 1, 1), (1, 1)),
                               rtol=1e-4, atol=1e-3)
