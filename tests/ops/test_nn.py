"""Neural-network operators of tex.ops (matmul, conv2d, pooling, softmax, norms) against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import tex
from tests.ops.helpers import SCHEDULES, check, rand
from tests.ops.reference import np_conv2d, np_softmax
from tex import ops


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("mnk", [(16, 32, 8), (13, 37, 11), (1, 7, 3)])
def test_matmul(mnk: tuple[int, int, int], kind: str) -> None:
    m, n, k = mnk
    a, b = tex.placeholder((m, k), name="a"), tex.placeholder((k, n), name="b")
    out = ops.matmul(a, b)
    assert out.op.tag == "matmul"
    check(kind, [a, b], out, np.matmul, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("shapes", [((2, 5, 3), (3, 6)), ((4,), (3, 4, 5)), ((2, 1, 3, 4), (4, 5)),
                                    ((6, 4), (4,)), ((3, 1, 2, 5), (4, 5, 3))])
def test_matmul_numpy_semantics(shapes: tuple[tuple[int, ...], tuple[int, ...]], kind: str) -> None:
    a, b = tex.placeholder(shapes[0], name="a"), tex.placeholder(shapes[1], name="b")
    check(kind, [a, b], ops.matmul(a, b), np.matmul, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_batch_matmul(kind: str) -> None:
    a, b = tex.placeholder((3, 9, 7), name="a"), tex.placeholder((3, 7, 20), name="b")
    out = ops.batch_matmul(a, b)
    assert out.op.tag == "batch_matmul"
    check(kind, [a, b], out, np.matmul, rtol=1e-4, atol=1e-5)
    bt = tex.placeholder((1, 20, 7), name="bt")
    check(kind, [a, bt], ops.batch_matmul(a, bt, transpose_b=True), lambda x, y: x @ y.transpose(0, 2, 1),
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_dense_with_bias(kind: str) -> None:
    x, w, bias = tex.placeholder((5, 24), name="x"), tex.placeholder((19, 24), name="w"), tex.placeholder((19,))
    out = ops.relu(ops.dense(x, w, bias))
    check(kind, [x, w, bias], out, lambda a, b, c: np.maximum(a @ b.T + c, 0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_int8_dot_accumulates_in_int32(kind: str) -> None:
    a = tex.placeholder((6, 64), dtype="int8", name="a")
    b = tex.placeholder((21, 64), dtype="int8", name="b")
    out = ops.dense(a, b, out_dtype="int32")
    assert out.dtype == "int32"
    rng = np.random.default_rng(1)
    da = rng.integers(-128, 128, size=(6, 64)).astype(np.int8)
    db = rng.integers(-128, 128, size=(21, 64)).astype(np.int8)
    da[0, :] = -128
    db[0, :] = -128  # 64 * 16384 overflows int16 but not int32
    check(kind, [a, b], out, lambda x, y: x.astype(np.int32) @ y.astype(np.int32).T, data=[da, db])
    m = ops.matmul(a, ops.transpose(b), out_dtype="int32")
    check(kind, [a, b], m, lambda x, y: x.astype(np.int32) @ y.astype(np.int32).T, data=[da, db])


CONV_CASES = [
    # (N, C, H, W), (O, C/g, KH, KW), strides, padding (t, l, b, r), dilation, groups
    ((1, 3, 9, 11), (8, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((2, 4, 10, 9), (5, 4, 3, 2), (2, 1), (0, 2, 1, 0), (1, 1), 1),
    ((1, 2, 13, 12), (4, 2, 3, 3), (2, 2), (2, 1, 2, 1), (2, 3), 1),
    ((1, 6, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2),
    ((1, 3, 5, 21), (12, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),  # default: 8-channel tile and 16-lane tails
]


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_nchw(case: int, kind: str) -> None:
    xs, ws, stride, pad, dil, groups = CONV_CASES[case]
    x, w = tex.placeholder(xs, name="data"), tex.placeholder(ws, name="kernel")
    out = ops.conv2d_nchw(x, w, stride, pad, dil, groups)
    assert out.op.tag == "conv2d_nchw"
    check(kind, [x, w], out, lambda a, b: np_conv2d(a, b, stride, pad, dil, groups), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_conv2d_bias_relu_epilogue(kind: str) -> None:
    x, w, b = tex.placeholder((1, 3, 8, 10), name="x"), tex.placeholder((6, 3, 3, 3), name="w"), \
        tex.placeholder((6, 1, 1), name="bias")
    out = ops.relu(ops.add(ops.conv2d_nchw(x, w, padding=1), b))
    check(kind, [x, w, b], out, lambda d, k, c: np.maximum(np_conv2d(d, k, (1, 1), (1,) * 4, (1, 1)) + c, 0),
          rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_conv2d_int8_to_int32(kind: str) -> None:
    x, w = tex.placeholder((1, 4, 7, 7), dtype="int8", name="x"), tex.placeholder((3, 4, 3, 3), dtype="int8")
    out = ops.conv2d_nchw(x, w, padding=(1, 1), out_dtype="int32")
    check(kind, [x, w], out, lambda a, b: np_conv2d(a, b, (1, 1), (1,) * 4, (1, 1), acc="int32"))


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("geom", [((1, 1), (1, 1, 1, 1), (1, 1), 1), ((2, 2), (0, 1, 2, 1), (1, 1), 2),
                                  ((1, 2), (2, 2, 2, 2), (2, 2), 1)])
def test_depthwise_conv2d(geom: tuple, kind: str) -> None:
    stride, pad, dil, mult = geom
    x, w = tex.placeholder((2, 3, 11, 10), name="x"), tex.placeholder((3 * mult, 1, 3, 3), name="w")
    out = ops.depthwise_conv2d_nchw(x, w, stride, pad, dil)
    assert out.op.tag == "depthwise_conv2d_nchw"
    check(kind, [x, w], out, lambda a, b: np_conv2d(a, b, stride, pad, dil, groups=3), rtol=1e-4, atol=1e-5)


def np_pool(x: np.ndarray, k: tuple[int, int], s: tuple[int, int], p: tuple[int, int, int, int],
            d: tuple[int, int], mode: str, ceil_mode: bool = False, count_include_pad: bool = False) -> np.ndarray:
    n, c, h, w = x.shape

    def osize(size: int, kk: int, ss: int, dd: int, lo: int, hi: int) -> int:
        span = size + lo + hi - (kk - 1) * dd - 1
        if not ceil_mode:
            return span // ss + 1
        o = -(-span // ss) + 1
        return o - 1 if (o - 1) * ss >= size + lo else o

    oh, ow = osize(h, k[0], s[0], d[0], p[0], p[2]), osize(w, k[1], s[1], d[1], p[1], p[3])
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for y in range(oh):
        for xx in range(ow):
            vals, cnt = [], 0
            for ry in range(k[0]):
                for rx in range(k[1]):
                    iy, ix = y * s[0] + ry * d[0] - p[0], xx * s[1] + rx * d[1] - p[1]
                    inside = 0 <= iy < h and 0 <= ix < w
                    in_pad = -p[0] <= iy < h + p[2] and -p[1] <= ix < w + p[3]
                    if inside:
                        vals.append(x[:, :, iy, ix])
                    cnt += inside if not count_include_pad else in_pad
            if mode == "max":
                out[:, :, y, xx] = np.max(vals, axis=0)
            else:
                out[:, :, y, xx] = np.sum(vals, axis=0) / cnt
    return out


POOLS = [((3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False), ((2, 3), (1, 2), (0, 1, 1, 0), (1, 1), False),
         ((3, 3), (2, 2), (0, 0, 0, 0), (1, 1), True), ((2, 2), (1, 1), (1, 1, 1, 1), (2, 2), False),
         ((3, 2), (3, 2), (1, 0, 1, 0), (1, 1), True)]


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("case", range(len(POOLS)))
def test_max_pool2d(case: int, kind: str) -> None:
    k, s, p, d, ceil_mode = POOLS[case]
    x = tex.placeholder((2, 3, 10, 11), name="x")
    out = ops.max_pool2d(x, k, s, p, d, ceil_mode)
    check(kind, [x], out, lambda a: np_pool(a, k, s, p, d, "max", ceil_mode))


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("case", range(len(POOLS)))
@pytest.mark.parametrize("include_pad", [False, True])
def test_avg_pool2d(case: int, include_pad: bool, kind: str) -> None:
    k, s, p, d, ceil_mode = POOLS[case]
    x = tex.placeholder((1, 3, 10, 11), name="x")
    out = ops.avg_pool2d(x, k, s, p, d, ceil_mode, count_include_pad=include_pad)
    check(kind, [x], out, lambda a: np_pool(a, k, s, p, d, "avg", ceil_mode, include_pad), atol=1e-6)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_global_pools(kind: str) -> None:
    x = tex.placeholder((2, 5, 7, 6), name="x")
    check(kind, [x], ops.global_avg_pool2d(x), lambda a: a.mean(axis=(2, 3), keepdims=True), atol=1e-6)
    check(kind, [x], ops.global_max_pool2d(x), lambda a: a.max(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax(axis: int, kind: str) -> None:
    x = tex.placeholder((4, 19, 6), name="x")
    out = ops.softmax(x, axis)
    assert out.op.tag == "softmax"
    check(kind, [x], out, lambda a: np_softmax(a, axis), data=[rand((4, 19, 6), lo=-5, hi=5)], atol=1e-6)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_log_softmax(kind: str) -> None:
    x = tex.placeholder((3, 33), name="x")
    check(kind, [x], ops.log_softmax(x), lambda a: np.log(np_softmax(a, -1)), atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_softmax_float16(kind: str) -> None:
    x = tex.placeholder((5, 40), dtype="float16", name="x")
    check(kind, [x], ops.softmax(x), lambda a: np_softmax(a.astype(np.float32), -1).astype(np.float16), atol=1e-3)


def np_layer_norm(x: np.ndarray, g: np.ndarray | None, b: np.ndarray | None, axis: int, eps: float) -> np.ndarray:
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    out = (x - mean) / np.sqrt(var + eps)
    return out * (g if g is not None else 1) + (b if b is not None else 0)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_layer_norm(kind: str) -> None:
    x, g, b = tex.placeholder((3, 5, 24), name="x"), tex.placeholder((24,), name="gamma"), tex.placeholder((24,))
    check(kind, [x, g, b], ops.layer_norm(x, g, b), lambda a, gg, bb: np_layer_norm(a, gg, bb, -1, 1e-5),
          rtol=1e-4, atol=1e-5)
    g2 = tex.placeholder((5, 24), name="gamma2")
    check(kind, [x, g2], ops.layer_norm(x, g2, None, axis=1, eps=1e-3),
          lambda a, gg: np_layer_norm(a, gg, None, 1, 1e-3), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_batch_norm_inference(kind: str) -> None:
    x = tex.placeholder((2, 4, 3, 5), name="x")
    params = [tex.placeholder((4,), name=n) for n in ("scale", "bias", "mean", "var")]
    out = ops.batch_norm_inference(x, *params, eps=1e-3)
    data = [rand((2, 4, 3, 5)), rand((4,)), rand((4,)), rand((4,)), rand((4,), lo=0.5, hi=2)]
    check(kind, [x, *params], out,
          lambda a, s, b, m, v: (a - m[:, None, None]) * s[:, None, None] / np.sqrt(v[:, None, None] + 1e-3)
          + b[:, None, None], data=data, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_pad(kind: str) -> None:
    x = tex.placeholder((3, 4, 5), name="x")
    out = ops.pad(x, (1, 0, 2), (0, 3, 1), value=-2.5)
    check(kind, [x], ops.add(out, 0.0),
          lambda a: np.pad(a, ((1, 0), (0, 3), (2, 1)), constant_values=-2.5))


def np_lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    c = x.shape[1]
    sq = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + int(np.ceil((size - 1) / 2)))
        sq[:, ch] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return x / (bias + alpha / size * sq) ** beta


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("size", [1, 4, 5])
def test_lrn(size: int, kind: str) -> None:
    x = tex.placeholder((2, 7, 3, 5), name="x")
    check(kind, [x], ops.lrn(x, size, 1e-2, 0.75, 2.0), lambda a: np_lrn(a, size, 1e-2, 0.75, 2.0), rtol=1e-5)


def test_pad_without_padding_is_a_copy_and_schedulable() -> None:
    x = tex.placeholder((2, 3), name="x")
    out = ops.pad(x, (0, 0), (0, 0))
    assert out.op is not x.op
    check("default", [x], out, lambda a: a)
    conv = ops.conv2d_nchw(tex.placeholder((1, 2, 4, 4), name="d"), tex.placeholder((3, 2, 3, 3), name="k"))
    assert all(t.name != "pad" for t in conv.op.input_tensors())  # no padding, no pad stage
