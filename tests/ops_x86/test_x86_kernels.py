"""The x86 kernels of tex/ops/x86 (packed matmul, dense with epilogues, NCHWc conv2d) against numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tex
from tex.ops.reference import from_blocked
from tex.ops.x86.batch_matmul import BatchMatmulBlocking, batch_matmul, schedule_batch_matmul
from tex.ops.x86.conv2d import (
    Conv2dBlocking,
    conv2d_nchwc,
    default_blocking,
    pointwise_as_row,
    schedule_conv2d_nchwc,
)
from tex.ops.x86.dense import DenseBlocking, dense, pack_dense_weight, schedule_dense
from tex.ops.x86.depthwise import DepthwiseBlocking, depthwise_conv2d_nchw, schedule_depthwise
from tex.ops.x86.matmul import MatmulBlocking, matmul_packed, schedule_matmul_packed

RNG = np.random.default_rng(7)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def run_matmul(m: int, n: int, k: int, blocking: MatmulBlocking) -> None:
    A, B, Bp, C = matmul_packed(m, n, k, bn=blocking.tile_n)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, blocking)
    f = tex.build(s, [A, B, C])
    a, b = rand(m, k), rand(k, n)
    c = np.full((m, n), np.nan, np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4 * k)


@pytest.mark.parametrize("shape", [(64, 64, 64), (37, 70, 19), (1, 33, 5), (9, 32, 128)])
def test_matmul_packed(shape: tuple[int, int, int]) -> None:
    run_matmul(*shape, MatmulBlocking())


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 40), n=st.integers(1, 80), k=st.integers(1, 40), tile_m=st.sampled_from([1, 3, 4, 8]),
       tile_n=st.sampled_from([8, 16, 32]), unroll_k=st.sampled_from([1, 3, 4]), parallel=st.booleans())
def test_matmul_packed_property(m: int, n: int, k: int, tile_m: int, tile_n: int, unroll_k: int,
                                parallel: bool) -> None:
    run_matmul(m, n, k, MatmulBlocking(tile_m, tile_n, unroll_k, parallel))


def numpy_act(v: np.ndarray, activation: str | None) -> np.ndarray:
    if activation == "relu":
        return np.maximum(v, 0)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-v))
    if activation == "tanh":
        return np.tanh(v)
    return v


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize(("m", "n", "k", "tile_m"), [(1, 1000, 64, 1), (10, 70, 33, 4), (16, 64, 32, 8)])
def test_dense_epilogue(activation: str | None, m: int, n: int, k: int, tile_m: int) -> None:
    d = dense(m, n, k, bn=32, bias=True, activation=activation)
    s = tex.create_schedule(d.out)
    schedule_dense(s, d, DenseBlocking(tile_m=tile_m))
    f = tex.build(s, [d.x, d.weight, d.bias, d.out])
    x, w, b = rand(m, k), rand(n, k), rand(n)
    out = np.full((m, n), np.nan, np.float32)
    f(x, pack_dense_weight(w, 32), b, out)
    np.testing.assert_allclose(out, numpy_act(x @ w.T + b, activation), rtol=1e-4, atol=1e-4)


def test_pack_dense_weight_layouts() -> None:
    w = rand(70, 33)
    p_nk, p_kn = pack_dense_weight(w, 32, "NK"), pack_dense_weight(np.ascontiguousarray(w.T), 32, "KN")
    np.testing.assert_array_equal(p_nk, p_kn)
    assert p_nk.shape == (3, 33, 32)
    np.testing.assert_array_equal(p_nk[1, :, 5], w[37, :])
    assert not p_nk[2, :, 6:].any()  # columns past N are zero
    with pytest.raises(ValueError, match="layout must be"):
        pack_dense_weight(w, 32, "KK")


def conv_ref(x: np.ndarray, w: np.ndarray, stride: int, pad: int, dilation: int) -> np.ndarray:
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - (kh - 1) * dilation - 1) // stride + 1
    ow = (wd + 2 * pad - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((n, oc, oh, ow), np.float64)
    for y in range(kh):
        for z in range(kw):
            rows = slice(y * dilation, y * dilation + stride * oh, stride)
            cols = slice(z * dilation, z * dilation + stride * ow, stride)
            patch = xp[:, :, rows, cols]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, y, z])
    return out.astype(np.float32)


@pytest.mark.parametrize(("c", "hw", "oc", "k", "stride", "pad", "dilation"), [
    (16, 10, 32, 3, 1, 1, 1), (3, 17, 16, 7, 2, 3, 1), (8, 9, 16, 3, 2, 0, 2), (32, 6, 16, 1, 1, 0, 1),
])
def test_conv2d_nchwc(c: int, hw: int, oc: int, k: int, stride: int, pad: int, dilation: int) -> None:
    ow = (hw + 2 * pad - (k - 1) * dilation - 1) // stride + 1
    blocking = default_blocking(c, oc, ow)
    t = conv2d_nchwc((2, c, hw, hw), (oc, c, k, k), (stride, stride), (pad,) * 4, (dilation, dilation), blocking,
                     bias=True, activation="relu")
    s = tex.create_schedule(t.out)
    schedule_conv2d_nchwc(s, t, blocking)
    f = tex.build(s, [t.data, t.weight, t.bias, t.out])
    x, w, b = rand(2, c, hw, hw), rand(oc, c, k, k), rand(oc)
    out = np.full(t.out.shape, np.nan, np.float32)
    f(x, w, b, out)
    ref = np.maximum(conv_ref(x, w, stride, pad, dilation) + b[None, :, None, None], 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * c * k * k)


@settings(max_examples=12, deadline=None)
@given(c=st.sampled_from([4, 8, 16]), hw=st.integers(3, 12), oc=st.sampled_from([8, 16, 32]),
       k=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]), reg_n=st.sampled_from([3, 4, 5, 8]),
       reg_h=st.sampled_from([1, 2, 3]), oc_group=st.sampled_from([1, 2, 4, 64]), blocked=st.booleans())
def test_conv2d_nchwc_property(c: int, hw: int, oc: int, k: int, stride: int, reg_n: int, reg_h: int,
                               oc_group: int, blocked: bool) -> None:
    """Register tiles of reg_h rows x reg_n columns (dividing the output or not), any sweep order of the
    output-channel blocks (oc_group), NCHW or blocked output, with bias and relu: all match numpy."""
    blocking = Conv2dBlocking(ic_bn=min(c, 8), oc_bn=8, reg_n=reg_n, reg_h=reg_h, oc_group=oc_group)
    t = conv2d_nchwc((1, c, hw, hw), (oc, c, k, k), (stride, stride), (1, 1, 1, 1), blocking=blocking,
                     bias=True, activation="relu", out_blocked=blocked)
    s = tex.create_schedule(t.out)
    schedule_conv2d_nchwc(s, t, blocking)
    f = tex.build(s, [t.data, t.weight, t.bias, t.out])
    x, w, b = rand(1, c, hw, hw), rand(oc, c, k, k), rand(oc)
    out = np.full(tuple(int(d) for d in t.out.shape), np.nan, np.float32)
    f(x, w, b, out)
    got = from_blocked(out) if blocked else out
    want = np.maximum(conv_ref(x, w, stride, 1, 1) + b[None, :, None, None], 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * c * k * k)


def test_default_blocking_fits_the_layer() -> None:
    """AVX2 defaults: two vectors of output channels in 12-accumulator tiles: 2 x 3 on even narrow planes,
    one row of 6 on wide rows and odd planes (4 below 12 columns), GEMM's 6 on the long rows of 1x1 convs;
    one vector where 16 does not divide the channels; the sweep groups as many output-channel blocks as
    keep their weights within 256 KiB."""
    wide, narrow, odd, odd_narrow = (default_blocking(256, 256, w, lanes=8, out_height=w, kernel_size=9)
                                     for w in (56, 14, 27, 7))
    assert (wide.oc_bn, wide.reg_h, wide.reg_n) == (16, 1, 6)
    assert (narrow.oc_bn, narrow.reg_h, narrow.reg_n) == (16, 2, 3)
    assert (odd.oc_bn, odd.reg_h, odd.reg_n) == (16, 1, 6)
    assert (odd_narrow.oc_bn, odd_narrow.reg_h, odd_narrow.reg_n) == (16, 1, 4)
    assert default_blocking(64, 24, 7, lanes=8, out_height=7).oc_bn == 8
    row = default_blocking(256, 64, 784, lanes=8, out_height=4, kernel_size=1)  # pointwise_as_row's rows
    assert (row.oc_bn, row.reg_h, row.reg_n) == (16, 1, 6)
    assert wide.oc_group == 1  # 256 * 9 * 16 * 4 B = 144 KiB per block: one fits
    one_by_one = default_blocking(1024, 256, 14, lanes=8, out_height=14, kernel_size=1)
    assert one_by_one.oc_group == 4  # 64 KiB per block
    assert default_blocking(64, 64, 56, lanes=8).oc_group == 4  # all four 4 KiB blocks in one sweep


def test_default_blocking_avx512() -> None:
    """AVX-512 defaults: two vectors of output channels (oc_bn 32) where 32 divides them, in tiles of up to
    28 accumulators: 14 columns where 14 divides the row, else 12 on wide rows, the whole row on rows of 7-13
    columns, several rows of narrower planes; 8 columns over unblocked (RGB) inputs, with the kw loop rolled
    for windows wider than 3x3; 8 columns for pointwise convs that shrink the channels 4x; one vector
    otherwise."""
    def tile(c: int, oc: int, w: int, h: int | None = None, k: int = 9) -> tuple[int, int, int]:
        b = default_blocking(c, oc, w, lanes=16, out_height=w if h is None else h, kernel_size=k)
        assert b.reg_h * b.reg_n * b.oc_bn // 16 <= 28  # 32 registers: 2 weight vectors, a broadcast
        assert b.reg_h in (1, 2)  # the conv2d_nchw template's reg_h candidates
        return b.oc_bn, b.reg_h, b.reg_n

    assert tile(64, 64, 56) == (32, 1, 14)
    assert tile(128, 128, 28) == (32, 1, 14)
    assert tile(256, 256, 14) == (32, 1, 14)
    assert tile(512, 512, 7) == (32, 1, 7)
    assert tile(256, 1024, 196, h=1, k=1) == (32, 1, 14)  # a pointwise conv's long row
    assert tile(64, 256, 392, h=8, k=1) == (32, 1, 14)
    assert tile(512, 512, 30) == (32, 1, 12)  # 12 columns and a partitioned tail
    assert tile(384, 384, 13) == (32, 1, 13)
    assert tile(512, 512, 4, h=4) == (32, 2, 4)  # 2 rows x 4 columns x 2 vectors = 16 accumulators
    assert tile(64, 64, 1, h=3) == (32, 1, 1)  # odd narrow planes: one row
    assert tile(64, 64, 6, h=6) == (32, 2, 6)
    assert tile(3, 64, 112, k=49) == (32, 1, 8)
    assert not default_blocking(3, 64, 112, lanes=16, out_height=112, kernel_size=49).unroll_kw
    assert default_blocking(3, 64, 112, lanes=16, out_height=112, kernel_size=9).unroll_kw
    assert default_blocking(64, 64, 56, lanes=16, out_height=56, kernel_size=9).unroll_kw
    assert tile(256, 64, 392, h=8, k=1) == (32, 1, 8)  # 4x fewer output channels: 8 columns
    assert tile(512, 128, 196, h=4, k=1) == (32, 1, 8)
    assert tile(256, 128, 392, h=8, k=1) == (32, 1, 14)  # 2x: 14
    assert tile(2048, 512, 49, h=1, k=1) == (32, 1, 8)  # and a partitioned tail
    assert tile(2048, 512, 7, h=7, k=1) == (32, 1, 7)  # short rows: the whole row
    assert tile(64, 48, 56)[0] == 16  # 32 does not divide 48
    assert default_blocking(64, 64, 56, lanes=16).oc_group == 2  # both 8 KiB blocks in one sweep
def test_pointwise_as_row() -> None:
    """A 1x1, stride-1, unpadded conv becomes the fewest rows dividing H*W that give 16 (output block x row)
    parallel iterations (blocks of the default oc_bn for the vector width), if fewer than H; anything else
    keeps its shape."""
    def rows(shape: tuple[int, ...], oc: int, k: int = 1, stride: int = 1, pad: int = 0,
             lanes: int = 8) -> tuple[int, ...]:
        return pointwise_as_row(shape, (oc, shape[1], k, k), (stride, stride), (pad,) * 4, lanes)

    assert rows((1, 256, 14, 14), 1024) == (1, 256, 1, 196)  # 64 blocks: one row is parallel enough
    assert rows((1, 64, 56, 56), 64) == (1, 64, 4, 784)  # 4 blocks x 4 rows
    assert rows((1, 96, 55, 55), 16) == (1, 96, 25, 121)  # one block: 25 rows (the first divisor >= 16)
    assert rows((1, 384, 13, 13), 64) == (1, 384, 13, 13)  # 13 rows would be the plane itself
    assert rows((1, 4, 3, 3), 4) == (1, 4, 3, 3)  # fewer pixels than the iterations wanted
    assert rows((1, 64, 56, 56), 64, stride=2) == (1, 64, 56, 56)
    assert rows((1, 64, 56, 56), 64, pad=1) == (1, 64, 56, 56)
    assert rows((1, 64, 56, 56), 64, k=3, pad=1) == (1, 64, 56, 56)
    # AVX-512's 32-channel blocks: half as many blocks, so twice the rows
    assert rows((1, 64, 56, 56), 64, lanes=16) == (1, 64, 8, 392)
    assert rows((1, 256, 14, 14), 1024, lanes=16) == (1, 256, 1, 196)


def test_conv2d_nchwc_errors() -> None:
    with pytest.raises(ValueError, match="must divide"):
        conv2d_nchwc((1, 12, 8, 8), (16, 12, 3, 3), blocking=Conv2dBlocking(ic_bn=8))
    with pytest.raises(ValueError, match="input channels"):
        conv2d_nchwc((1, 16, 8, 8), (16, 8, 3, 3))
    with pytest.raises(ValueError, match="output would be"):
        conv2d_nchwc((1, 16, 2, 2), (16, 16, 5, 5))


def test_set_scope_rejects_outputs_and_unknown_scopes() -> None:
    d = dense(4, 32, 8)
    s = tex.create_schedule(d.out)
    with pytest.raises(tex.ScheduleError, match=r"set_scope\(out\).*output"):
        s[d.out].set_scope("local")
    with pytest.raises(tex.ScheduleError, match=r"set_scope\(acc\)"):
        s[d.acc].set_scope("registers")


@pytest.mark.parametrize(("c", "hw", "k", "stride", "pad", "mult", "epilogue"), [
    (4, 9, 3, 2, 1, 1, True), (8, 12, 3, 1, 1, 2, False), (3, 7, 5, 1, 2, 1, True), (16, 20, 3, 2, 0, 1, False),
])
def test_depthwise(c: int, hw: int, k: int, stride: int, pad: int, mult: int, epilogue: bool) -> None:
    d = depthwise_conv2d_nchw((2, c, hw, hw), (c * mult, 1, k, k), (stride, stride), (pad,) * 4,
                              bias=epilogue, activation="relu" if epilogue else None)
    s = tex.create_schedule(d.out)
    schedule_depthwise(s, d, DepthwiseBlocking(vector_x=8))
    args = [d.data, d.weight, *([d.bias] if epilogue else []), d.out]
    f = tex.build(s, args)
    x, w, b = rand(2, c, hw, hw), rand(c * mult, 1, k, k), rand(c * mult)
    out = np.full(d.out.shape, np.nan, np.float32)
    f(x, w, *([b] if epilogue else []), out)
    # depthwise = grouped conv: output channel o reads input channel o // mult
    ref = np.stack([conv_ref(x[:, o // mult: o // mult + 1], w[o: o + 1], stride, pad, 1)[:, 0]
                    for o in range(c * mult)], axis=1)
    if epilogue:
        ref = np.maximum(ref + b[None, :, None, None], 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * k * k)


@settings(max_examples=12, deadline=None)
@given(c=st.integers(1, 6), h=st.integers(5, 19), w=st.integers(5, 23), k=st.sampled_from([1, 3, 5]),
       sh=st.integers(1, 3), sw=st.integers(1, 3), dil=st.integers(1, 2), pads=st.tuples(*[st.integers(0, 2)] * 4),
       mult=st.integers(1, 2), vx=st.sampled_from([4, 8, 16]))
def test_depthwise_strides_and_dilations_property(c: int, h: int, w: int, k: int, sh: int, sw: int, dil: int,
                                                  pads: tuple[int, int, int, int], mult: int, vx: int) -> None:
    """Any stride (a row stride > 1 reads the plane split into its phases), dilation, uneven padding and
    multiplier, with vectors that do or do not divide the row: equal to a numpy loop over the taps."""
    ph = h + pads[0] + pads[2] - (k - 1) * dil
    pw = w + pads[1] + pads[3] - (k - 1) * dil
    assume(ph >= 1 and pw >= 1)
    d = depthwise_conv2d_nchw((1, c, h, w), (c * mult, 1, k, k), (sh, sw), pads, (dil, dil))
    s = tex.create_schedule(d.out)
    schedule_depthwise(s, d, DepthwiseBlocking(vector_x=vx))
    f = tex.build(s, [d.data, d.weight, d.out])
    x, wt = rand(1, c, h, w), rand(c * mult, 1, k, k)
    out = np.full(tuple(int(e) for e in d.out.shape), np.nan, np.float32)
    f(x, wt, out)
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = out.shape[2:]
    ref = np.zeros_like(out)
    for o in range(c * mult):
        for ry in range(k):
            for rx in range(k):
                y0, x0 = ry * dil, rx * dil
                win = xp[0, o // mult, y0: y0 + (oh - 1) * sh + 1: sh, x0: x0 + (ow - 1) * sw + 1: sw]
                ref[0, o] += win * wt[o, 0, ry, rx]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * k * k)


def test_depthwise_errors() -> None:
    with pytest.raises(ValueError, match=r"weight must be \(C \* multiplier, 1, KH, KW\)"):
        depthwise_conv2d_nchw((1, 4, 8, 8), (6, 1, 3, 3))
    with pytest.raises(ValueError, match="activation"):
        depthwise_conv2d_nchw((1, 4, 8, 8), (4, 1, 3, 3), activation="gelu")


@settings(max_examples=10, deadline=None)
@given(batch=st.integers(1, 3), m=st.integers(1, 20), n=st.integers(1, 40), k=st.integers(1, 20),
       transpose_b=st.booleans(), tile_m=st.sampled_from([1, 4, 8]), tile_n=st.sampled_from([8, 16, 32]),
       unroll_k=st.sampled_from([1, 2, 4]))
def test_batch_matmul_property(batch: int, m: int, n: int, k: int, transpose_b: bool, tile_m: int, tile_n: int,
                               unroll_k: int) -> None:
    A, B, C = batch_matmul(batch, m, n, k, transpose_b=transpose_b)
    s = tex.create_schedule(C)
    schedule_batch_matmul(s, C, BatchMatmulBlocking(tile_m, tile_n, unroll_k))
    f = tex.build(s, [A, B, C])
    a, b = rand(batch, m, k), rand(*B.shape)
    c = np.full((batch, m, n), np.nan, np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ (b.transpose(0, 2, 1) if transpose_b else b), rtol=1e-4, atol=1e-4 * k)


def test_conv2d_nchwc_with_prepacked_weight() -> None:
    from tex.ops.x86.conv2d import pack_conv_weight

    blocking = Conv2dBlocking(ic_bn=8, oc_bn=16, reg_n=4)
    t = conv2d_nchwc((1, 16, 9, 9), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), blocking=blocking, bias=True,
                     activation="relu", prepacked_weight=True)
    assert t.weight is t.weight_pack and t.weight.shape == (2, 2, 3, 3, 8, 16)
    s = tex.create_schedule(t.out)
    schedule_conv2d_nchwc(s, t, blocking)
    f = tex.build(s, [t.data, t.weight, t.bias, t.out])
    x, w, b = rand(1, 16, 9, 9), rand(32, 16, 3, 3), rand(32)
    out = np.full(t.out.shape, np.nan, np.float32)
    f(x, pack_conv_weight(w, 8, 16), b, out)
    ref = np.maximum(conv_ref(x, w, 1, 1, 1) + b[None, :, None, None], 0)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * 16 * 9)


def test_conv_template_default_is_in_its_space_on_small_planes() -> None:
    """default_blocking's tile is a config of the conv2d_nchw template for every small plane (a reg_h of 3 on
    a 3-row plane once broke compiling such a model)."""
    import tex.ops.x86.templates  # noqa: F401  (registers the templates)
    from tex.tune.template import lookup

    t = lookup("conv2d_nchw")
    for h, w, oc, k in itertools.product(range(1, 10), range(1, 16), (32, 64), (1, 3)):
        args = ((1, 16, h, w), (oc, 16, k, k), (1, 1), (k // 2,) * 4, (1, 1), False, None, "float32", True)
        assert t.space(args).default() is not None
