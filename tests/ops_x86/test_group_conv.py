"""Grouped NCHWc conv2d (tex/ops/x86/group_conv2d.py) and its template against a numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
import tex.ops.x86.templates  # registers the templates
from tests.ops_x86.template_checks import check_template_configs
from tex import tune
from tex.ops.x86.conv2d import Conv2dBlocking
from tex.ops.x86.group_conv2d import (
    default_group_blocking,
    default_pointwise_tile,
    group_conv2d_nchwc,
    group_pointwise_gemm,
    pack_group_conv_weight,
    padded_group,
    schedule_group_conv2d_nchwc,
    schedule_group_pointwise_gemm,
    unpack_group_conv_weight,
)


def rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def group_conv_ref(x: np.ndarray, w: np.ndarray, groups: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """Each group as its own dense conv over sliding windows (float64)."""
    n, c, _, _ = x.shape
    oc, cg, kh, kw = w.shape
    og = oc // groups
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    span_h, span_w = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    win = np.lib.stride_tricks.sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    win = win[:, :, ::stride, ::stride, ::dilation, ::dilation]  # (n, c, oh, ow, kh, kw)
    outs = [np.einsum("nchwyx,ocyx->nohw", win[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og].astype(np.float64))
            for g in range(groups)]
    return np.concatenate(outs, axis=1)


def run_group_conv(shape: tuple[int, int, int, int], oc: int, groups: int, k: int, blocking: Conv2dBlocking,
                   stride: int = 1, pad: int = 0, dilation: int = 1, bias: bool = False, relu: bool = False,
                   residual: bool = False, prepacked: bool = True, seed: int = 0) -> None:
    n, c, _, _ = shape
    wshape = (oc, c // groups, k, k)
    t = group_conv2d_nchwc(shape, wshape, groups, blocking, (stride, stride), (pad,) * 4, (dilation, dilation),
                           bias=bias, activation="relu" if relu else None, prepacked_weight=prepacked,
                           residual=residual)
    s = tex.create_schedule(t.out)
    schedule_group_conv2d_nchwc(s, t, blocking)
    args = [t.data, t.weight, *([t.bias] if bias else []), *([t.residual] if residual else []), t.out]
    f = tex.build(s, args)
    rng = np.random.default_rng(seed)
    x, w, b = rand(rng, *shape), rand(rng, *wshape), rand(rng, oc)
    out = np.full(tuple(int(d) for d in t.out.shape), np.nan, np.float32)
    r = rand(rng, *out.shape)
    wt = pack_group_conv_weight(w, groups, blocking.ic_bn, blocking.oc_bn) if prepacked else w
    f(x, wt, *([b] if bias else []), *([r] if residual else []), out)
    want = group_conv_ref(x, w, groups, stride, pad, dilation)
    if bias:
        want = want + b[None, :, None, None]
    if residual:
        want = want + r
    if relu:
        want = np.maximum(want, 0)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4 * (c // groups) * k * k)


@pytest.mark.parametrize(
    ("shape", "oc", "groups", "k", "stride", "pad", "dilation", "blocking"),
    [
        ((1, 8, 7, 7), 8, 2, 1, 1, 0, 1, Conv2dBlocking(4, 4, 7)),      # blocks divide the groups
        ((2, 12, 9, 9), 18, 3, 3, 1, 1, 1, Conv2dBlocking(2, 4, 4)),    # 6 outputs per group padded to 8
        ((1, 16, 10, 10), 16, 4, 3, 2, 1, 1, Conv2dBlocking(4, 8, 5)),  # stride 2, padding to 8 per group
        ((1, 24, 8, 8), 40, 4, 1, 1, 0, 1, Conv2dBlocking(3, 8, 8)),    # ShuffleNet-like 1x1, 10 per group
        ((1, 8, 11, 11), 4, 2, 3, 1, 2, 2, Conv2dBlocking(1, 2, 3)),    # dilation, reg_n not dividing ow
        ((1, 6, 5, 5), 9, 3, 3, 2, 0, 1, Conv2dBlocking(2, 1, 2)),      # scalar blocks
    ],
)
def test_group_conv(shape: tuple[int, int, int, int], oc: int, groups: int, k: int, stride: int, pad: int,
                    dilation: int, blocking: Conv2dBlocking) -> None:
    run_group_conv(shape, oc, groups, k, blocking, stride, pad, dilation)


@pytest.mark.parametrize("oc_bn", [4, 8])  # 12 outputs per group: dividing and padded blocks
def test_group_conv_residual_relu_bias(oc_bn: int) -> None:
    run_group_conv((1, 12, 6, 6), 36, 3, 1, Conv2dBlocking(4, oc_bn, 3), bias=True, relu=True,
                   residual=True)


@pytest.mark.parametrize("oc_bn", [3, 4])
def test_group_conv_packs_weight_in_kernel(oc_bn: int) -> None:
    run_group_conv((1, 8, 6, 6), 12, 2, 3, Conv2dBlocking(2, oc_bn, 4), pad=1, bias=True, relu=True, prepacked=False)


@settings(max_examples=10, deadline=None)
@given(groups=st.sampled_from([2, 3, 4]), cg=st.integers(1, 6), og=st.integers(1, 9), hw=st.integers(3, 9),
       k=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]), pad=st.integers(0, 1),
       oc_bn=st.sampled_from([1, 2, 4, 8]), ic_pick=st.integers(0, 5), reg_n=st.sampled_from([1, 2, 4, 7]),
       residual=st.booleans())
def test_group_conv_property(groups: int, cg: int, og: int, hw: int, k: int, stride: int, pad: int, oc_bn: int,
                             ic_pick: int, reg_n: int, residual: bool) -> None:
    if hw + 2 * pad < k:
        return
    ic_bns = [d for d in range(1, cg + 1) if cg % d == 0]
    blocking = Conv2dBlocking(ic_bns[ic_pick % len(ic_bns)], oc_bn, reg_n, unroll_kw=bool(ic_pick % 2))
    run_group_conv((1, groups * cg, hw, hw), groups * og, groups, k, blocking, stride, pad, bias=residual,
                   relu=residual, residual=residual)


@pytest.mark.parametrize(("groups", "og", "oc_bn"), [(4, 34, 8), (2, 8, 8), (3, 5, 4), (4, 68, 16)])
def test_pack_group_conv_weight_roundtrip(groups: int, og: int, oc_bn: int) -> None:
    w = rand(np.random.default_rng(1), groups * og, 6, 3, 3)
    wp = pack_group_conv_weight(w, groups, 3, oc_bn)
    assert wp.shape == (groups * padded_group(og, oc_bn) // oc_bn, 2, 3, 3, 3, oc_bn)
    np.testing.assert_array_equal(unpack_group_conv_weight(wp, groups, groups * og), w)


@pytest.mark.parametrize(("c", "oc", "groups", "ow"), [(136, 136, 4, 28), (272, 272, 4, 14), (24, 112, 4, 56),
                                                       (544, 544, 4, 7), (8, 4, 4, 5), (512, 512, 2, 9)])
def test_default_group_blocking(c: int, oc: int, groups: int, ow: int) -> None:
    b = default_group_blocking(c, oc, groups, ow)
    assert (c // groups) % b.ic_bn == 0 and b.oc_bn in (4, 8, 16)
    assert padded_group(oc // groups, b.oc_bn) < oc // groups + b.oc_bn


@pytest.mark.parametrize("lanes", [8, 16])
def test_default_blocking_of_one_padded_group(lanes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """One group (a plain conv with padded outputs): two-vector blocks, the whole row if its accumulators
    fit (28 on AVX-512, 12 on AVX2), else a tile dividing the row."""
    import tex.ops.x86.group_conv2d as gc
    monkeypatch.setattr(gc, "vector_lanes", lambda dtype: lanes)
    b = default_group_blocking(512, 1000, 1, 13)
    assert b.oc_bn == 2 * lanes and b.ic_bn == 1
    assert b.reg_n == (13 if lanes == 16 else 6)
    assert default_group_blocking(512, 1000, 1, 56).reg_n == (14 if lanes == 16 else 4)
    assert b.reg_n * b.oc_bn // lanes <= (28 if lanes == 16 else 12)
    assert gc.padded_conv(1000) == (lanes == 16) and gc.padded_conv(100) and not gc.padded_conv(100, groups=2)
    assert not gc.padded_conv(24)  # few channels stay in the model's blocked layout


def test_group_conv_errors() -> None:
    blk = Conv2dBlocking(2, 4, 4)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        group_conv2d_nchwc((1, 12, 8, 8), (12, 4, 1, 1), 5, blk)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        group_conv2d_nchwc((1, 12, 8, 8), (12, 4, 1, 1), 0, blk)
    with pytest.raises(ValueError, match="C/groups = 4 input channels, got 6"):
        group_conv2d_nchwc((1, 12, 8, 8), (12, 6, 1, 1), 3, blk)
    with pytest.raises(ValueError, match="ic_bn=3 must divide the 4 input channels"):
        group_conv2d_nchwc((1, 12, 8, 8), (12, 4, 1, 1), 3, Conv2dBlocking(3, 4, 4))
    with pytest.raises(ValueError, match="oc_bn=0 must be positive"):
        group_conv2d_nchwc((1, 12, 8, 8), (12, 4, 1, 1), 3, Conv2dBlocking(2, 0, 4))
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        group_conv2d_nchwc((1, 12, 8, 8), (12, 4, 1, 1), 3, blk, activation="gelu")
    with pytest.raises(ValueError, match="output would be"):
        group_conv2d_nchwc((1, 12, 2, 2), (12, 4, 5, 5), 3, blk)


# ---------------------------------------------------------------- the tuning template
CASES = [
    ((1, 8, 9, 9), (12, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True, "relu", "float32", True, False),
    ((1, 16, 7, 7), (24, 4, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1), False, None, "float32", True, True),
    ((2, 12, 6, 6), (18, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True, None, "float32", False, True),
]


@pytest.mark.parametrize("args", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_group_template_configs_match_reference(args: tuple[object, ...]) -> None:
    check_template_configs("group_conv2d_nchw", args)


def test_group_template_flop_and_default() -> None:
    args = ((1, 136, 28, 28), (136, 34, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), True, "relu", "float32", True, False)
    task = tune.create_task("group_conv2d_nchw", args)
    assert task.flop == 2 * 136 * 34 * 28 * 28
    s, targs = task.instantiate(task.config_space.default())
    blk = default_group_blocking(136, 136, 4, 28)
    assert tuple(int(d) for d in targs[1].shape) == (4 * padded_group(34, blk.oc_bn) // blk.oc_bn, 34 // blk.ic_bn,
                                                     1, 1, blk.ic_bn, blk.oc_bn)


@pytest.mark.parametrize("wshape", [(12, 5, 1, 1), (12, 24, 1, 1)])
def test_group_template_rejects_bad_groups(wshape: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="group_conv2d_nchwc: weight must have C/groups"):
        tune.create_task("group_conv2d_nchw", ((1, 12, 8, 8), wshape, (1, 1), (0, 0, 0, 0), (1, 1), False,
                                               None, "float32", True, False)).instantiate(None)


# ---------------------------------------------------------------- grouped 1x1 convs as per-group GEMMs
@settings(max_examples=12, deadline=None)
@given(groups=st.integers(2, 4), cg=st.integers(1, 9), og=st.integers(1, 13), h=st.integers(1, 9),
       w=st.integers(1, 11), tile=st.sampled_from([(2, 8), (6, 32), (8, 16), (4, 64), (12, 16)]),
       unroll_k=st.sampled_from([1, 2, 4]), bias=st.booleans(), relu=st.booleans(), residual=st.booleans())
def test_group_pointwise_gemm_property(groups: int, cg: int, og: int, h: int, w: int, tile: tuple[int, int],
                                       unroll_k: int, bias: bool, relu: bool, residual: bool) -> None:
    """Any group sizes (rows padded to the tile), planes whose pixels no tile divides (a partitioned tail),
    with bias, shortcut and relu, against the numpy oracle; an element left unwritten stays NaN and fails."""
    c, oc = cg * groups, og * groups
    tm, tn = tile
    data, weight, b_t, r_t, acc, out = group_pointwise_gemm((1, c, h, w), (oc, cg, 1, 1), groups, tm, bias=bias,
                                                             activation="relu" if relu else None, residual=residual)
    s = tex.create_schedule(out)
    schedule_group_pointwise_gemm(s, acc, out, tm, tn, unroll_k)
    f = tex.build(s, [data, weight, *([b_t] if bias else []), *([r_t] if residual else []), out])
    rng = np.random.default_rng(groups * 100 + cg * 10 + og)
    x, wt, bv = rand(rng, 1, c, h, w), rand(rng, oc, cg, 1, 1), rand(rng, oc)
    r = rand(rng, 1, oc, h, w)
    got = np.full((1, groups, og, h * w), np.nan, np.float32)
    f(x.reshape(1, c, h * w), wt.reshape(oc, cg), *([bv] if bias else []),
      *([r.reshape(got.shape)] if residual else []), got)
    want = group_conv_ref(x, wt, groups, 1, 0, 1)
    if bias:
        want = want + bv[None, :, None, None]
    if residual:
        want = want + r
    if relu:
        want = np.maximum(want, 0)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-4)


def test_group_pointwise_gemm_errors() -> None:
    with pytest.raises(ValueError, match="a 1x1 weight"):
        group_pointwise_gemm((1, 8, 4, 4), (8, 4, 3, 3), 2, 4)
    with pytest.raises(ValueError, match="a 1x1 weight"):
        group_pointwise_gemm((1, 8, 4, 4), (8, 3, 1, 1), 2, 4)
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        group_pointwise_gemm((1, 8, 4, 4), (8, 4, 1, 1), 2, 4, activation="gelu")


POINTWISE_CASES = [
    ((1, 24, 7, 7), (16, 6, 1, 1), True, "relu", "float32", False),
    ((2, 12, 5, 6), (18, 4, 1, 1), False, None, "float32", True),
]


@pytest.mark.parametrize("args", POINTWISE_CASES, ids=["relu-bias", "residual"])
def test_group_pointwise_template_configs_match_reference(args: tuple[object, ...]) -> None:
    check_template_configs("group_conv2d_pointwise", args)


@pytest.mark.parametrize(("pixels", "lanes", "tile"), [(784, 16, (6, 32)), (49, 16, (8, 16)), (196, 8, (6, 16)),
                                                       (16, 8, (8, 8))])
def test_default_pointwise_tile(pixels: int, lanes: int, tile: tuple[int, int]) -> None:
    assert default_pointwise_tile(pixels, lanes) == tile
