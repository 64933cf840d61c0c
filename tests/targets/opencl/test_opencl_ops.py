"""The tex.ops operator suite on OpenCL: `schedule_default(target="opencl")` (one work-item per output element),
the same operators under one GPU-style schedule (`gpu_schedule`: bind + shared + local) and three hand
schedules (shared + register tiles, a bound row reduction, a vectorized chain), all against numpy. Shapes are
small and uneven: PoCL compiles each kernel in about a second."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tests.ops.helpers import rand
from tests.ops.reference import np_conv2d, np_softmax
from tests.ops.test_nn import np_layer_norm, np_pool
from tex import ops
from tex.lang.tensor import ComputeOp
from tex.ops.opencl.matmul import cooperative_fill
from tex.ops.schedule_common import inline_injective
from tex.ops.schedule_opencl import WORK_GROUP
from tex.schedule.schedule import AttachKind
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")


def run_cl(inputs: Sequence[tex.Tensor], out: tex.Tensor, ref: Callable[..., np.ndarray],
           data: Sequence[np.ndarray] | None = None, s: tex.Schedule | None = None, rtol: float = 1e-5,
           atol: float = 1e-5) -> object:
    """Build `out` for opencl (schedule_default unless `s`), run on `data` (random by default) into a NaN- or
    77-filled output, so an unwritten element fails, and compare with `ref(*data)`; returns the module."""
    s = s if s is not None else ops.schedule_default(out, target="opencl")
    f = tex.build(s, [*inputs, out], target="opencl")
    rng = np.random.default_rng(1)
    data = list(data) if data is not None else [rand(t.shape, t.dtype, rng) for t in inputs]
    got = np.full(tuple(int(d) for d in out.shape), np.nan if out.dtype.startswith("float") else 77, out.dtype)
    f(*data, got)
    want = np.asarray(ref(*data))
    assert got.shape == want.shape, f"{out.name}: shape {got.shape} != numpy's {want.shape}"
    np.testing.assert_allclose(got, want.astype(got.dtype), rtol=rtol, atol=atol, err_msg=out.name)
    return f


# ---------------------------------------------------------------------------------------------- schedule_default

def _elemwise() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x, y = tex.placeholder((3, 5, 7), name="x"), tex.placeholder((5, 1), name="y")  # broadcast over 0 and 2
    out = ops.relu(ops.multiply(ops.sigmoid(ops.add(x, y)), ops.exp(x)))
    return [x, y], out, lambda a, b: np.maximum(np.exp(a) / (1 + np.exp(-(a + b))), 0)


def _where() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x, y = tex.placeholder((4, 9), name="x"), tex.placeholder((9,), name="y")
    return [x, y], ops.where(ops.greater(x, y), x, ops.negative(y)), lambda a, b: np.where(a > b, a, -b)


def _reduce(op: Callable[..., tex.Tensor], ref: Callable[..., np.ndarray], axes: tuple[int, ...] | None,
            keepdims: bool) -> Callable[[], tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]]:
    def make() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
        x = tex.placeholder((3, 6, 5), name="x")
        return [x], op(x, axes, keepdims), lambda a: ref(a, axis=axes, keepdims=keepdims)
    return make


def _softmax() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((9, 20), name="x")  # 180 outputs: three work-groups, each row's max and sum per item
    return [x], ops.softmax(x), lambda a: np_softmax(a, -1)


def _layer_norm() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x, g, b = tex.placeholder((2, 5, 12), name="x"), tex.placeholder((12,), name="g"), tex.placeholder((12,), name="b")
    return [x, g, b], ops.layer_norm(x, g, b), lambda a, gg, bb: np_layer_norm(a, gg, bb, -1, 1e-5)


def _transpose() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((3, 4, 5), name="x")
    return [x], ops.transpose(x, (2, 0, 1)), lambda a: a.transpose(2, 0, 1)


def _concatenate() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    xs = [tex.placeholder((2, n, 3), name=f"x{n}") for n in (1, 4, 2)]
    return xs, ops.concatenate(xs, axis=1), lambda *a: np.concatenate(a, 1)


def _pad() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((3, 4, 2), name="x")
    return [x], ops.pad(x, (1, 0, 2), (0, 3, 1), value=-2.5), \
        lambda a: np.pad(a, ((1, 0), (0, 3), (2, 1)), constant_values=-2.5)


def _strided_slice() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((6, 10, 9), name="x")
    return [x], ops.strided_slice(x, (1, 8), (5, -100), (2, -3), (0, 2)), lambda a: a[1:5:2, :, 8::-3]


def _matmul() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    a, b = tex.placeholder((2, 7, 5), name="a"), tex.placeholder((5, 9), name="b")
    return [a, b], ops.matmul(a, b), np.matmul


def _dense() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x, w, b = tex.placeholder((5, 11), name="x"), tex.placeholder((6, 11), name="w"), tex.placeholder((6,), name="b")
    return [x, w, b], ops.relu(ops.dense(x, w, b)), lambda a, ww, bb: np.maximum(a @ ww.T + bb, 0)


def _conv2d() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x, w = tex.placeholder((1, 3, 7, 8), name="x"), tex.placeholder((4, 3, 3, 3), name="w")
    return [x, w], ops.conv2d_nchw(x, w, (2, 1), (1, 0, 2, 1)), \
        lambda a, b: np_conv2d(a, b, (2, 1), (1, 0, 2, 1), (1, 1))


def _max_pool() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((1, 2, 7, 6), name="x")
    return [x], ops.max_pool2d(x, (2, 3), (2, 2), (0, 1, 0, 1)), \
        lambda a: np_pool(a, (2, 3), (2, 2), (0, 1, 0, 1), (1, 1), "max")


def _avg_pool() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((1, 2, 7, 6), name="x")
    return [x], ops.avg_pool2d(x, (3, 3), (2, 2), (1, 1, 1, 1)), \
        lambda a: np_pool(a, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), "avg")  # (2, 2) pads: 10 s in PoCL's compiler


def _resize() -> tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]:
    x = tex.placeholder((1, 2, 3, 4), name="x")
    out = ops.resize(x, (1, 2, 6, 8), (1, 1, 2, 2), "nearest", "asymmetric", "floor")
    return [x], out, lambda a: a.repeat(2, axis=2).repeat(2, axis=3)


CASES: dict[str, Callable[[], tuple[list[tex.Tensor], tex.Tensor, Callable[..., np.ndarray]]]] = {
    "elemwise_broadcast": _elemwise, "where": _where,
    "reduce_sum": _reduce(ops.reduce_sum, np.sum, (0, 2), False),
    "reduce_max": _reduce(ops.reduce_max, np.max, (1,), True),
    "reduce_mean": _reduce(ops.reduce_mean, np.mean, (-1,), False),
    "reduce_sum_all": _reduce(ops.reduce_sum, np.sum, None, False),  # a 0-d output: one unbound work-item
    "softmax": _softmax, "layer_norm": _layer_norm, "transpose": _transpose, "concatenate": _concatenate,
    "pad": _pad, "strided_slice": _strided_slice, "matmul": _matmul, "dense_bias_relu": _dense,
    "conv2d_nchw": _conv2d, "max_pool2d": _max_pool, "avg_pool2d": _avg_pool, "resize": _resize,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_schedule_default_opencl(name: str) -> None:
    inputs, out, ref = CASES[name]()
    run_cl(inputs, out, ref, rtol=1e-4)


@settings(max_examples=6, deadline=None)
@given(shape=st.lists(st.integers(1, 70), min_size=1, max_size=3), axis=st.integers(0, 2))
def test_reduction_then_elementwise_any_shape(shape: list[int], axis: int) -> None:
    """x - mean(x, axis): sizes around the work-group size, guarded tails, the mean per work-item."""
    axis %= len(shape)
    x = tex.placeholder(tuple(shape), name="x")
    out = ops.subtract(x, ops.reduce_mean(x, axis, keepdims=True))
    run_cl([x], out, lambda a: a - a.mean(axis, keepdims=True), rtol=1e-4)


def test_take() -> None:
    x, idx = tex.placeholder((5, 6), name="x"), tex.placeholder((2, 3), dtype="int64", name="idx")
    data = [rand((5, 6)), np.array([[0, 4, -1], [2, 2, -5]], dtype=np.int64)]
    run_cl([x, idx], ops.take(x, idx, 1), lambda a, i: np.take(a, i, 1), data=data)


def test_default_launch_is_one_work_item_per_output() -> None:
    x = tex.placeholder((9, 20), name="x")
    f = run_cl([x], ops.softmax(x), lambda a: np_softmax(a, -1))
    assert f.launch.local_size == (WORK_GROUP, 1, 1)
    assert f.launch.global_size == (3 * WORK_GROUP, 1, 1)  # 180 outputs, the tail guarded
    src = f.get_source("cl")
    assert "__local" not in src and "barrier" not in src


# ---------------------------------------------------------------------------------------------- GPU-style schedule

def gpu_schedule(inputs: Sequence[tex.Tensor], out: tex.Tensor, threads: int = 8, lanes: int = 2) -> tex.Schedule:
    """Bind + shared + local for any single-output graph of tex.ops with a static shape of rank >= 1:

    - the output's last axis j = (jb*threads + jt)*lanes + ji, the other axes fused with jb into blockIdx.x,
      jt bound to threadIdx.x: each work-item a `lanes`-wide register tile (cache_write "local"), ji unrolled;
    - every input staged in `__local` memory (cache_read "shared") at the block loop, copied by the
      work-group in rounds of `threads` work-items (a barrier after each copy);
    - injective producers inlined, the other producers (softmax's max and sum, dense before its epilogue)
      private ("local") and computed inside the work-item; the register tile's first reduction axis split by 2
      and unrolled.
    """
    s = tex.create_schedule(out)
    inline_injective(s)
    shared = []
    for p in inputs:  # every direct reader, inlined ones too: their bodies are substituted with the copy
        readers = [r.origin_op for r in s.stages
                   if isinstance(r.op, ComputeOp) and any(t.op is p.op for t in r.op.input_tensors())]
        shared.append(s.cache_read(p, "shared", readers))
    local = s.cache_write(out, "local")
    O = s[out]
    axes = list(O.op.axis)
    jo, ji = O.split(axes[-1], lanes)
    jb, jt = O.split(jo, threads)
    block = O.fuse(*axes[:-1], jb) if len(axes) > 1 else jb
    O.bind(block, tex.thread_axis("blockIdx.x"))
    O.bind(jt, tex.thread_axis("threadIdx.x"))
    O.unroll(ji)
    L = s[local]
    L.compute_at(O, jt)
    if L.op.reduce_axis:
        _, ki = L.split(L.op.reduce_axis[0], 2)
        L.unroll(ki)
    for stage in s.stages:
        if isinstance(stage.op, ComputeOp) and stage.attach is AttachKind.ROOT and not stage.is_output \
                and stage.scope == "global":
            stage.set_scope("local")
            stage.compute_at(O, jt)
    for X in shared:
        s[X].compute_at(O, block)
        copy = s[X].fuse(*s[X].op.axis) if len(s[X].op.axis) > 1 else s[X].op.axis[0]
        _, t = s[X].split(copy, threads)
        s[X].bind(t, tex.thread_axis("threadIdx.x"))
    return s


GPU_CASES = sorted(set(CASES) - {"reduce_sum_all"})  # a 0-d output has no axis to bind


def test_gpu_schedule_covers_the_suite() -> None:
    assert len(GPU_CASES) >= 10


@pytest.mark.parametrize("name", GPU_CASES)
def test_gpu_schedule_opencl(name: str) -> None:
    inputs, out, ref = CASES[name]()
    f = run_cl(inputs, out, ref, s=gpu_schedule(inputs, out), rtol=1e-4)
    src = f.get_source("cl")
    assert f.launch.local_size == (8, 1, 1)  # type: ignore[attr-defined]
    assert src.count("__local float") == len(inputs) and "barrier(CLK_LOCAL_MEM_FENCE);" in src
    assert f"float {out.name}_local[2];" in src  # the register tile


@pytest.mark.parametrize(("threads", "lanes"), [(1, 1), (4, 3), (16, 4)])
def test_gpu_schedule_other_tiles(threads: int, lanes: int) -> None:
    for name in ("softmax", "conv2d_nchw", "concatenate"):
        inputs, out, ref = CASES[name]()
        run_cl(inputs, out, ref, s=gpu_schedule(inputs, out, threads, lanes), rtol=1e-4)


def test_gpu_schedule_take() -> None:
    x, idx = tex.placeholder((5, 6), name="x"), tex.placeholder((2, 3), dtype="int64", name="idx")
    data = [rand((5, 6)), np.array([[0, 4, -1], [2, 2, -5]], dtype=np.int64)]
    out = ops.take(x, idx, 1)
    run_cl([x, idx], out, lambda a, i: np.take(a, i, 1), data=data, s=gpu_schedule([x, idx], out))


# ---------------------------------------------------------------------------------------------- hand schedules

def test_matmul_shared_tiles_and_register_tile() -> None:
    """Each work-item a 2x2 register tile (cache_write "local"), 4x4 work-items a group; tiles of A and B in
    __local memory, filled by the group at each k tile inside the thread loops."""
    M, N, K = 37, 30, 21
    a, b = tex.placeholder((M, K), name="a"), tex.placeholder((K, N), name="b")
    C = ops.matmul(a, b)
    s = tex.create_schedule(C)
    AS, BS = s.cache_read(a, "shared", [C]), s.cache_read(b, "shared", [C])
    CL = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, 2, 2)
    bi, ti = s[C].split(io, 4)
    bj, tj = s[C].split(jo, 4)
    s[C].reorder(bi, bj, ti, tj, ii, ji)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        s[C].bind(ax, tex.thread_axis(tag))
    s[CL].compute_at(s[C], tj)
    ci, cj = s[CL].op.axis
    ko, ki = s[CL].split(s[CL].op.reduce_axis[0], 4)
    s[CL].reorder(ko, ki, ci, cj)
    for X in (AS, BS):
        s[X].compute_at(s[CL], ko)
        cooperative_fill(s, X, 4, 4)
    f = run_cl([a, b], C, np.matmul, s=s, rtol=1e-4)
    src = f.get_source("cl")
    assert "__local float a_shared" in src and "__local float b_shared" in src
    assert src.count("barrier(CLK_LOCAL_MEM_FENCE);") == 2 and "float matmul_local[4]" in src


def test_row_reduction_bound() -> None:
    """reduce_sum over rows: rows over blockIdx.x x threadIdx.x, a private accumulator, the reduction split
    and its inner part unrolled."""
    x = tex.placeholder((45, 50), name="x")
    out = ops.reduce_sum(x, 1)
    s = tex.create_schedule(out)
    acc = s.cache_write(out, "local")
    bx, tx = s[out].split(s[out].op.axis[0], 16)
    s[out].bind(bx, tex.thread_axis("blockIdx.x"))
    s[out].bind(tx, tex.thread_axis("threadIdx.x"))
    s[acc].compute_at(s[out], tx)
    ko, ki = s[acc].split(s[acc].op.reduce_axis[0], 4)
    s[acc].unroll(ki)
    f = run_cl([x], out, lambda a: a.sum(1), s=s, rtol=1e-4)
    assert f.launch.global_size == (48, 1, 1) and f.launch.local_size == (16, 1, 1)


def test_elementwise_chain_vectorized() -> None:
    """exp(x) * y + x, producers inlined, the fused output as groups x work-items x float4 lanes."""
    x, y = tex.placeholder((6, 43), name="x"), tex.placeholder((6, 43), name="y")
    out = ops.add(ops.multiply(ops.exp(x), y), x)
    s = tex.create_schedule(out)
    for stage in s.stages:
        if isinstance(stage.op, tex.ComputeOp) and not stage.is_output:
            stage.compute_inline()
    i, j = s[out].op.axis
    jo, jv = s[out].split(j, 4)
    fused = s[out].fuse(i, jo)
    bx, tx = s[out].split(fused, 16)
    s[out].bind(bx, tex.thread_axis("blockIdx.x"))
    s[out].bind(tx, tex.thread_axis("threadIdx.x"))
    s[out].vectorize(jv)
    f = run_cl([x, y], out, lambda a, b: np.exp(a) * b + a, s=s, rtol=1e-5)
    assert "vload4" in f.get_source("cl")


def test_symbolic_shape_runs_unbound() -> None:
    """The launch size of a symbolic shape is unknown when built: one work-item runs the whole kernel."""
    n = tex.var("n")
    x = tex.placeholder((n, 6), name="x")
    out = ops.softmax(ops.multiply(x, 2.0))
    f = tex.build(ops.schedule_default(out, target="opencl"), [x, out, n], target="opencl")
    assert f.launch.global_size == (1, 1, 1)
    for rows in (1, 7):
        a = rand((rows, 6))
        got = np.full((rows, 6), np.nan, np.float32)
        f(a, got, rows)
        np.testing.assert_allclose(got, np_softmax(a * 2, -1), rtol=1e-5, atol=1e-6)


def run_many(inputs: Sequence[tex.Tensor], outs: list[tex.Tensor], ref: Callable[..., Sequence[np.ndarray]]) -> object:
    f = tex.build(ops.schedule_default(outs, target="opencl"), [*inputs, *outs], target="opencl")
    data = [rand(t.shape, t.dtype, np.random.default_rng(2)) for t in inputs]
    got = [np.full(tuple(int(d) for d in t.shape), np.nan, t.dtype) for t in outs]
    f(*data, *got)
    for g, w, t in zip(got, ref(*data), outs):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=t.name)
    return f


def test_outputs_of_different_sizes_share_the_launch() -> None:
    x, y = tex.placeholder((5, 30), name="x"), tex.placeholder((200,), name="y")
    outs = [ops.reduce_sum(x, 1), ops.softmax(ops.sigmoid(y))]
    f = run_many([x, y], outs, lambda a, b: [a.sum(1), np_softmax(1 / (1 + np.exp(-b)), -1)])
    assert f.launch.global_size == (4 * WORK_GROUP, 1, 1)  # 200 elements: 4 blocks of 64; 5 sums: 4 blocks of 2


def test_shared_intermediate_or_chained_outputs_run_unbound() -> None:
    """An intermediate read by two outputs, or an output read by another, would race across work-groups."""
    x = tex.placeholder((4, 9), name="x")
    m = ops.reduce_max(x, 1, keepdims=True)
    f = run_many([x], [ops.subtract(x, m), ops.add(x, m)],
                 lambda a: [a - a.max(1, keepdims=True), a + a.max(1, keepdims=True)])
    assert f.launch.global_size == (1, 1, 1)
    r = ops.reduce_sum(x, 1)
    f = run_many([x], [r, ops.multiply(x, ops.expand_dims(r, 1))], lambda a: [a.sum(1), a * a.sum(1, keepdims=True)])
    assert f.launch.global_size == (1, 1, 1)
