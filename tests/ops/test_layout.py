"""NCHW <-> NCHW[b]c layout transforms and 5-D (NCHWc) pools against numpy, under the default schedule
(and the stress schedules for the transforms)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tests.ops.helpers import SCHEDULES, check, rand
from tex import ops
from tex.ops.reference import from_blocked, to_blocked

SETTINGS = settings(max_examples=20, deadline=None)


def layout_ref(src: str, dst: str):
    a, b = ops.parse_layout(src), ops.parse_layout(dst)

    def ref(x: np.ndarray) -> np.ndarray:
        nchw = x if a is None else from_blocked(x)
        return nchw if b is None else to_blocked(nchw, b)

    return ref


def blocked_shape(n: int, c: int, h: int, w: int, layout: str) -> tuple[int, ...]:
    b = ops.parse_layout(layout)
    return (n, c, h, w) if b is None else (n, c // b, h, w, b)


# ------------------------------------------------------------------ parse_layout


@pytest.mark.parametrize(("layout", "block"), [("NCHW", None), ("NCHW1c", 1), ("NCHW8c", 8), ("NCHW16c", 16),
                                               ("NCHW128c", 128)])
def test_parse_layout(layout: str, block: int | None) -> None:
    assert ops.parse_layout(layout) == block


@pytest.mark.parametrize("layout", ["NHWC", "NCHW0c", "NCHW08c", "NCHWc", "NCHW8", "nchw8c", "NCHW-8c", "NCHW8C",
                                    " NCHW8c", ""])
def test_parse_layout_rejects(layout: str) -> None:
    with pytest.raises(ValueError, match=r"parse_layout: layout must be 'NCHW' or 'NCHW<b>c'"):
        ops.parse_layout(layout)


def test_parse_layout_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="parse_layout: layout must be a str"):
        ops.parse_layout(8)  # type: ignore[arg-type]


# ------------------------------------------------------------------ transforms


DIRECTIONS = [("NCHW", "NCHW8c", (2, 16, 5, 7)), ("NCHW", "NCHW4c", (1, 12, 9, 10)),
              ("NCHW", "NCHW16c", (1, 32, 3, 17)), ("NCHW", "NCHW3c", (1, 6, 4, 5)), ("NCHW", "NCHW32c", (1, 32, 2, 3)),
              ("NCHW8c", "NCHW", (2, 16, 5, 7)), ("NCHW16c", "NCHW", (1, 32, 3, 9)), ("NCHW3c", "NCHW", (1, 6, 4, 5)),
              ("NCHW8c", "NCHW16c", (1, 32, 4, 6)), ("NCHW16c", "NCHW8c", (2, 32, 3, 5)),
              ("NCHW8c", "NCHW12c", (1, 24, 3, 4)), ("NCHW6c", "NCHW4c", (1, 12, 2, 9)),
              ("NCHW4c", "NCHW4c", (1, 8, 2, 3))]


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize(("src", "dst", "nchw"), DIRECTIONS)
def test_layout_transform(src: str, dst: str, nchw: tuple[int, int, int, int], kind: str) -> None:
    x = tex.placeholder(blocked_shape(*nchw, src), name="x")
    y = ops.layout_transform(x, src, dst)
    assert tuple(y.shape) == blocked_shape(*nchw, dst)
    if src == dst:
        assert y is x
        return
    assert y.op.tag == "injective" and y.op.name == "layout_transform"
    check(kind, [x], y, layout_ref(src, dst), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", ["float16", "int8", "int32", "float64"])
def test_layout_transform_dtypes(dtype: str) -> None:
    x = tex.placeholder((1, 16, 3, 5), dtype=dtype, name="x")
    y = ops.layout_transform(x, "NCHW", "NCHW8c")
    check("default", [x], y, layout_ref("NCHW", "NCHW8c"), atol=0, rtol=0)
    z = ops.layout_transform(y, "NCHW8c", "NCHW")
    check("default", [x], z, lambda a: a, atol=0, rtol=0)


def test_layout_transform_feeds_a_consumer() -> None:
    """Not an output: the transform is inlined into its consumer (tag injective) and still right."""
    x = tex.placeholder((1, 16, 4, 6), name="x")
    y = ops.relu(ops.layout_transform(x, "NCHW", "NCHW8c", name="pack"))
    s = ops.schedule_default(y)
    assert "pack" not in str(tex.lower(s, [x, y])).split("):", 1)[1]  # no buffer or loop for the inlined stage
    check("default", [x], y, lambda a: np.maximum(layout_ref("NCHW", "NCHW8c")(a), 0), atol=0, rtol=0)


def _divisors(c: int) -> list[int]:
    return [d for d in range(1, c + 1) if c % d == 0]


@SETTINGS
@given(n=st.integers(1, 2), c=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 24, 32]), h=st.integers(1, 6),
       w=st.integers(1, 11), data=st.data())
def test_layout_transform_random(n: int, c: int, h: int, w: int, data: st.DataObject) -> None:
    """Random shapes and block sizes (divisors of C) in every direction, including blocked -> blocked."""
    layouts = ["NCHW"] + [f"NCHW{d}c" for d in _divisors(c)]
    src = data.draw(st.sampled_from(layouts), label="src")
    dst = data.draw(st.sampled_from(layouts), label="dst")
    x = tex.placeholder(blocked_shape(n, c, h, w, src), name="x")
    y = ops.layout_transform(x, src, dst)
    if src == dst:
        assert y is x
        return
    check("default", [x], y, layout_ref(src, dst), atol=0, rtol=0, seed=n * c * h * w)


@SETTINGS
@given(n=st.integers(1, 2), c=st.sampled_from([4, 8, 12, 16, 24, 32]), h=st.integers(1, 5), w=st.integers(1, 9),
       data=st.data())
def test_layout_round_trip(n: int, c: int, h: int, w: int, data: st.DataObject) -> None:
    """NCHW -> NCHW[a]c -> NCHW[b]c -> NCHW is the identity, built as one graph (inner stages inlined)."""
    a, b = data.draw(st.sampled_from(_divisors(c)), label="a"), data.draw(st.sampled_from(_divisors(c)), label="b")
    x = tex.placeholder((n, c, h, w), name="x")
    y = ops.layout_transform(ops.layout_transform(ops.layout_transform(x, "NCHW", f"NCHW{a}c", name="to_a"),
                                                  f"NCHW{a}c", f"NCHW{b}c", name="a_to_b"),
                             f"NCHW{b}c", "NCHW", name="back")
    check("default", [x], y, lambda v: v, atol=0, rtol=0)


def test_layout_transform_channels_not_divisible() -> None:
    x = tex.placeholder((1, 12, 4, 4), name="feat")
    with pytest.raises(ValueError, match=r"^layout_transform: tensor 'feat' has 12 channels, not a multiple of the "
                                         r"block size 8"):
        ops.layout_transform(x, "NCHW", "NCHW8c")
    xb = tex.placeholder((1, 3, 4, 4, 4), name="packed")
    with pytest.raises(ValueError, match=r"'packed' has 12 channels, not a multiple of the block size 8"):
        ops.layout_transform(xb, "NCHW4c", "NCHW8c")


@pytest.mark.parametrize(("shape", "src", "msg"), [
    ((1, 8, 4, 4), "NCHW8c", r"'x' in layout NCHW8c must be 5-D \(N, C/8, H, W, 8\), got shape \(1, 8, 4, 4\)"),
    ((1, 2, 4, 4, 4), "NCHW8c", r"'x' in layout NCHW8c must be 5-D .* got shape \(1, 2, 4, 4, 4\)"),
    ((1, 2, 4, 4, 8), "NCHW", r"'x' in layout NCHW must be 4-D, got shape \(1, 2, 4, 4, 8\)"),
])
def test_layout_transform_shape_must_match_src(shape: tuple[int, ...], src: str, msg: str) -> None:
    x = tex.placeholder(shape, name="x")
    with pytest.raises(ValueError, match=msg):
        ops.layout_transform(x, src, "NCHW4c" if src == "NCHW" else "NCHW")


@pytest.mark.parametrize(("src", "dst", "bad"), [("NHWC", "NCHW8c", "src"), ("NCHW", "NCHW0c", "dst"),
                                               ("NCHW", "NCHWc", "dst")])
def test_layout_transform_bad_layout(src: str, dst: str, bad: str) -> None:
    x = tex.placeholder((1, 8, 4, 4), name="x")
    with pytest.raises(ValueError, match=rf"^layout_transform 'pack': {bad} must be 'NCHW' or 'NCHW<b>c'"):
        ops.layout_transform(x, src, dst, name="pack")


def test_layout_transform_rejects_non_tensor() -> None:
    with pytest.raises(TypeError, match="x must be a tex Tensor"):
        ops.layout_transform(np.zeros((1, 8, 2, 2)), "NCHW", "NCHW8c")  # type: ignore[arg-type]


@pytest.mark.parametrize(("src", "dst", "shape"), [("NCHW", "NCHW8c", (1, 64, 56, 56)),
                                                   ("NCHW8c", "NCHW16c", (1, 8, 28, 28, 8)),
                                                   ("NCHW16c", "NCHW", (1, 4, 28, 28, 16))])
def test_layout_transform_default_schedule_is_parallel_and_vectorized(src: str, dst: str,
                                                                      shape: tuple[int, ...]) -> None:
    x = tex.placeholder(shape, name="x")
    y = ops.layout_transform(x, src, dst)
    lines = str(tex.lower(ops.schedule_default(y), [x, y])).splitlines()
    loops = [ln for ln in lines if ln.lstrip().startswith("for ")]
    assert "# parallel" in loops[0] and "# vectorized" in loops[-1], "\n".join(lines)


# ------------------------------------------------------------------ pools on NCHWc


def _blocked_pool_check(pool4, pool5, shape: tuple[int, int, int, int], b: int, atol: float) -> None:
    """pool5 on the packed input equals pool4 (the 4-D op, built and run too) repacked with numpy."""
    x4 = tex.placeholder(shape, name="x")
    x5 = tex.placeholder(blocked_shape(*shape, f"NCHW{b}c"), name="xc")
    y4, y5 = pool4(x4), pool5(x5)
    a = rand(shape, "float32", np.random.default_rng(sum(shape) * b))
    want4 = np.full(tuple(y4.shape), np.nan, np.float32)
    tex.build(ops.schedule_default(y4), [x4, y4], target="llvm")(a, want4)
    n, c, oh, ow = want4.shape
    assert tuple(y5.shape) == (n, c // b, oh, ow, b)
    check("default", [x5], y5, lambda _: to_blocked(want4, b), data=[to_blocked(a, b)], atol=atol)


POOL_CASES = [((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False), ((2, 3), (1, 2), (0, 1, 1, 0), (1, 1), False),
              ((3, 3), (2, 2), (0, 0, 0, 0), (1, 1), True), ((2, 2), (1, 1), (1, 1, 1, 1), (2, 2), False),
              ((3, 2), (3, 2), (1, 0, 1, 0), (1, 1), True)]


@pytest.mark.parametrize("b", [4, 8, 16])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_max_pool2d_nchwc(case: int, b: int) -> None:
    k, s, p, d, ceil_mode = POOL_CASES[case]
    pool = lambda t: ops.max_pool2d(t, k, s, p, d, ceil_mode)  # noqa: E731
    _blocked_pool_check(pool, pool, (2, 16, 10, 11), b, atol=0)


@pytest.mark.parametrize("include_pad", [False, True])
@pytest.mark.parametrize("b", [8, 16])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_avg_pool2d_nchwc(case: int, b: int, include_pad: bool) -> None:
    k, s, p, d, ceil_mode = POOL_CASES[case]
    pool = lambda t: ops.avg_pool2d(t, k, s, p, d, ceil_mode, count_include_pad=include_pad)  # noqa: E731
    _blocked_pool_check(pool, pool, (1, 16, 10, 11), b, atol=1e-6)


@pytest.mark.parametrize("b", [4, 8, 16])
@pytest.mark.parametrize("op", ["global_avg_pool2d", "global_max_pool2d"])
def test_global_pools_nchwc(op: str, b: int) -> None:
    pool = getattr(ops, op)
    _blocked_pool_check(pool, pool, (2, 32, 7, 6), b, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_global_max_pool_nchwc_dtypes(dtype: str) -> None:
    x = tex.placeholder((1, 2, 5, 3, 8), dtype=dtype, name="x")
    check("default", [x], ops.global_max_pool2d(x), lambda a: a.max(axis=(2, 3), keepdims=True), atol=0, rtol=0)


def test_global_avg_pool_nchwc_float16_accumulates_in_float32() -> None:
    x = tex.placeholder((1, 2, 16, 16, 8), dtype="float16", name="x")
    y = ops.global_avg_pool2d(x)
    assert y.dtype == "float16" and tuple(y.shape) == (1, 2, 1, 1, 8)
    check("default", [x], y, lambda a: a.astype(np.float32).mean(axis=(2, 3), keepdims=True).astype(np.float16),
          atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("b", [8, 16])
@pytest.mark.parametrize("pool", [lambda t: ops.max_pool2d(t, (3, 3), (2, 2), (1, 1, 1, 1)),
                                  lambda t: ops.avg_pool2d(t, (3, 3), (2, 2), (1, 1, 1, 1)),
                                  ops.global_avg_pool2d, ops.global_max_pool2d])
def test_nchwc_pool_default_schedule_vectorizes_the_block(pool, b: int) -> None:
    """The block axis is the innermost loop, inside the window, vectorized; the outer loop is parallel."""
    x = tex.placeholder((1, 64 // b, 56, 56, b), name="x")
    y = pool(x)
    text = str(tex.lower(ops.schedule_default(y), [x, y]))
    loops = [ln.strip() for ln in text.splitlines() if ln.lstrip().startswith("for ")]
    inner = loops[loops.index(next(ln for ln in loops if ln.startswith("for rx in"))) + 1]
    assert "# vectorized" in inner and f"range({b})" in inner, text
    assert "# parallel" in loops[0], text


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d", "global_avg_pool2d", "global_max_pool2d"])
@pytest.mark.parametrize("shape", [(8, 8, 8), (1, 2, 8, 8, 8, 8)])
def test_pools_reject_other_ranks(op: str, shape: tuple[int, ...]) -> None:
    x = tex.placeholder(shape, name="feat")
    args = () if op.startswith("global") else ((2, 2),)
    with pytest.raises(ValueError, match=rf"{op}: x must be 4-D NCHW or 5-D NCHWc, got 'feat' of shape"):
        getattr(ops, op)(x, *args)


@pytest.mark.parametrize("ow", [4, 8])
def test_nchw_pool_short_power_of_two_width(ow: int) -> None:
    """A 4-D pool whose output width is a short power of two takes the same whole-axis vector path."""
    x = tex.placeholder((2, 3, 6, 2 * ow), name="x")
    mx, av = ops.max_pool2d(x, (2, 2)), ops.avg_pool2d(x, (2, 2))
    assert "# vectorized" in str(tex.lower(ops.schedule_default(mx), [x, mx]))
    win = lambda a: a.reshape(2, 3, 3, 2, ow, 2)  # noqa: E731
    check("default", [x], mx, lambda a: win(a).max(axis=(3, 5)), atol=0, rtol=0)
    check("default", [x], av, lambda a: win(a).mean(axis=(3, 5)), atol=1e-6)
