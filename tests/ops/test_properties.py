"""Property tests: random shapes, split factors (non-dividing, 1, larger than the extent), loop orders and
annotations on matmul and reductions; every schedule must equal numpy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex import ops
from tex.lang.tensor import IterKind, IterVar
from tex.schedule.schedule import Stage

SETTINGS = settings(max_examples=25, deadline=None)
dims = st.integers(1, 13)
factors = st.integers(1, 9)


def _random_loops(data: st.DataObject, stage: Stage, allow_parallel: bool = True) -> list[IterVar]:
    """Split every axis by a drawn factor, permute all loops, maybe fuse two adjacent ones, then annotate:
    vectorize the innermost loop and parallel the outermost when spatial, unroll one drawn loop."""
    leaves: list[IterVar] = []
    for iv in list(stage.leaf_iter_vars):
        if data.draw(st.booleans(), label=f"split {iv.name}"):
            leaves += stage.split(iv, data.draw(factors, label=f"factor {iv.name}"))
        else:
            leaves.append(iv)
    order = data.draw(st.permutations(leaves), label="order")
    if not order:  # a scalar output: nothing to schedule
        return order
    stage.reorder(*order)
    pos = data.draw(st.integers(0, len(order)), label="fuse at")
    if pos + 1 < len(order) and order[pos].kind is order[pos + 1].kind:  # fuse two adjacent loops of one kind
        order[pos:pos + 2] = [stage.fuse(order[pos], order[pos + 1])]
    if order[-1].kind is IterKind.SPATIAL and data.draw(st.booleans(), label="vectorize"):
        stage.vectorize(order[-1])
    if allow_parallel and order[0].kind is IterKind.SPATIAL and data.draw(st.booleans(), label="parallel"):
        stage.parallel(order[0])
    middle = order[1:-1]
    if middle and data.draw(st.booleans(), label="unroll"):
        stage.unroll(data.draw(st.sampled_from(middle), label="unrolled"))
    return order


def _run(s: tex.Schedule, args: list[tex.Tensor], inputs: list[np.ndarray], want: np.ndarray) -> None:
    f = tex.build(s, args)
    out = np.full(want.shape, np.nan, np.float32)
    f(*inputs, out)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


@SETTINGS
@given(m=dims, n=dims, k=dims, data=st.data())
def test_matmul_random_schedules(m: int, n: int, k: int, data: st.DataObject) -> None:
    a, b = tex.placeholder((m, k), name="a"), tex.placeholder((k, n), name="b")
    c = ops.matmul(a, b)
    s = tex.create_schedule(c)
    _random_loops(data, s[c])
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    da, db = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    _run(s, [a, b, c], [da, db], da @ db)


@SETTINGS
@given(m=dims, n=dims, k=dims, data=st.data())
def test_matmul_cache_write_random_schedules(m: int, n: int, k: int, data: st.DataObject) -> None:
    a, b = tex.placeholder((m, k), name="a"), tex.placeholder((k, n), name="b")
    c = ops.matmul(a, b)
    s = tex.create_schedule(c)
    cc = s.cache_write(c, "local")
    i, j = s[c].op.axis
    io, jo, ii, ji = s[c].tile(i, j, data.draw(factors, label="ti"), data.draw(factors, label="tj"))
    s[c].vectorize(ji)
    if data.draw(st.booleans(), label="parallel io"):
        s[c].parallel(io)
    s[cc].compute_at(s[c], data.draw(st.sampled_from([io, jo]), label="attach"))
    _random_loops(data, s[cc], allow_parallel=False)
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    da, db = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32)
    _run(s, [a, b, c], [da, db], da @ db)


@SETTINGS
@given(shape=st.lists(st.integers(1, 9), min_size=3, max_size=3), keepdims=st.booleans(), data=st.data())
def test_reduction_random_schedules(shape: list[int], keepdims: bool, data: st.DataObject) -> None:
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, 2), min_size=1), label="axes")))
    x = tex.placeholder(tuple(shape), name="x")
    r = ops.reduce_sum(x, axes, keepdims)
    s = tex.create_schedule(r)
    _random_loops(data, s[r])
    dx = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    _run(s, [x, r], [dx], dx.sum(axis=axes, keepdims=keepdims))


@SETTINGS
@given(m=st.integers(1, 11), n=st.integers(1, 23), data=st.data())
def test_producer_computed_at_random_loop(m: int, n: int, data: st.DataObject) -> None:
    """exp(x) computed at a drawn loop of a reduction that reads it through a transpose; softmax-like rows."""
    x, w = tex.placeholder((n, m), name="x"), tex.placeholder((n,), name="w")
    e = ops.exp(x)
    t = ops.transpose(e)
    mul = ops.multiply(t, w)
    r = ops.reduce_max(mul, axes=1)
    s = tex.create_schedule(r)
    s[t].compute_inline()
    s[mul].compute_inline()
    order = _random_loops(data, s[r], allow_parallel=data.draw(st.booleans(), label="allow parallel"))
    s[e].compute_at(s[r], data.draw(st.sampled_from(order[:-1] or order), label="attach"))
    dx = np.random.default_rng(m * 31 + n).standard_normal((n, m)).astype(np.float32)
    dw = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    f = tex.build(s, [x, w, r])
    out = np.full((m,), np.nan, np.float32)
    f(dx, dw, out)
    np.testing.assert_allclose(out, (np.exp(dx).T * dw).max(axis=1), rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 2), cg=st.integers(1, 3), groups=st.integers(1, 2), opg=st.integers(1, 10),
       hw=st.tuples(st.integers(1, 12), st.integers(1, 20)), k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 3), st.integers(1, 3)), dil=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pad=st.tuples(*[st.integers(0, 2)] * 4))
def test_conv2d_default_schedule_random_geometry(n: int, cg: int, groups: int, opg: int, hw: tuple[int, int],
                                                  k: tuple[int, int], stride: tuple[int, int],
                                                  dil: tuple[int, int], pad: tuple[int, int, int, int]) -> None:
    from hypothesis import assume

    from tests.ops.reference import np_conv2d

    h, w = hw
    assume(h + pad[0] + pad[2] >= (k[0] - 1) * dil[0] + 1 and w + pad[1] + pad[3] >= (k[1] - 1) * dil[1] + 1)
    x = tex.placeholder((n, cg * groups, h, w), name="x")
    wt = tex.placeholder((opg * groups, cg, *k), name="w")
    out = ops.conv2d_nchw(x, wt, stride, pad, dil, groups)
    rng = np.random.default_rng(h * 31 + w)
    dx = rng.standard_normal((n, cg * groups, h, w)).astype(np.float32)
    dw = rng.standard_normal((opg * groups, cg, *k)).astype(np.float32)
    f = tex.build(ops.schedule_default(out), [x, wt, out])
    got = np.full(out.shape, np.nan, np.float32)
    f(dx, dw, got)
    np.testing.assert_allclose(got, np_conv2d(dx, dw, stride, pad, dil, groups), rtol=1e-4, atol=1e-4)


@settings(max_examples=10, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), m=st.integers(1, 20), n=st.integers(1, 40), k=dims)
def test_matmul_default_schedule_random_shapes(batch: list[int], m: int, n: int, k: int) -> None:
    a, b = tex.placeholder((*batch, m, k), name="a"), tex.placeholder((k, n), name="b")
    c = ops.matmul(a, b)
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    da = rng.standard_normal((*batch, m, k)).astype(np.float32)
    db = rng.standard_normal((k, n)).astype(np.float32)
    _run(ops.schedule_default(c), [a, b, c], [da, db], da @ db)
