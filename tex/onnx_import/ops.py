"""ONNX operators lowered to tex.ops computes: one function per op, named like the op (STYLE.md item 10).

Each function takes the node's inputs positionally (tex Tensors; numpy arrays for the inputs listed in
`STATIC_INPUTS`, which must be compile-time constants; None for an omitted optional input) and its
attributes as keyword arguments with ONNX's defaults. `OPS[op_type]` maps the first opset version in
which a behaviour holds to its function; `lookup(op_type, opset)` picks the newest version <= opset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tex import ops as T
from tex.lang import dsl
from tex.lang.tensor import Tensor

Lowering = Callable[..., Any]

ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16",
               11: "float64"}

INJECTIVE = frozenset({
    "Relu", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Sigmoid", "Tanh", "Clip", "LeakyRelu",
    "HardSigmoid", "HardSwish", "Erf", "Gelu", "Exp", "Log", "Sqrt", "Pow", "Neg", "Abs", "Floor", "Ceil",
    "Cast", "Where", "Equal", "Less", "Greater", "Identity", "Dropout", "Reciprocal", "Elu", "Selu",
    "Softplus", "Mish", "Round", "Not", "And", "Or", "LessOrEqual", "GreaterOrEqual", "Mod", "PRelu",
})
VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})


# ------------------------------------------------------------------ helpers
def _ints(v: Any) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


def _auto_pads(x: Tensor, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int],
               auto_pad: str, pads: Sequence[int] | None) -> list[int]:
    """ONNX pads [top, left, bottom, right] for 2-D, from `pads` or `auto_pad`."""
    nd = len(kernel)
    if auto_pad in ("NOTSET", "", b"NOTSET"):
        return list(pads) if pads is not None else [0] * (2 * nd)
    if auto_pad == "VALID":
        return [0] * (2 * nd)
    begin, end = [], []
    for d in range(nd):
        size = int(x.shape[2 + d])
        out = -(-size // strides[d])
        total = max(0, (out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - size)
        lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        begin.append(lo)
        end.append(total - lo)
    return begin + end


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> Lowering:
    def op(a: Tensor, b: Tensor) -> Tensor:
        return fn(a, b)
    return op


# ------------------------------------------------------------------ elementwise
def Relu(x: Tensor) -> Tensor:
    return T.relu(x)


def Sigmoid(x: Tensor) -> Tensor:
    return T.sigmoid(x)


def Tanh(x: Tensor) -> Tensor:
    return T.tanh(x)


def Exp(x: Tensor) -> Tensor:
    return T.exp(x)


def Log(x: Tensor) -> Tensor:
    return T.log(x)


def Sqrt(x: Tensor) -> Tensor:
    return T.sqrt(x)


def Erf(x: Tensor) -> Tensor:
    return T.erf(x)


def Neg(x: Tensor) -> Tensor:
    return T.negative(x)


def Abs(x: Tensor) -> Tensor:
    return T.abs(x)


def Floor(x: Tensor) -> Tensor:
    return T.floor(x)


def Ceil(x: Tensor) -> Tensor:
    return T.ceil(x)


def Reciprocal(x: Tensor) -> Tensor:
    return T.divide(dsl.const(1.0, x.dtype), x)


def LeakyRelu(x: Tensor, alpha: float = 0.01) -> Tensor:
    return T.leaky_relu(x, alpha)


def Elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return dsl.compute(x.shape, lambda *i: dsl.if_then_else(x[i] > 0, x[i], (dsl.exp(x[i]) - 1.0) * alpha),
                       name="elu", tag="elemwise")


def HardSigmoid(x: Tensor, alpha: float = 0.2, beta: float = 0.5) -> Tensor:
    return dsl.compute(x.shape, lambda *i: dsl.min(dsl.max(x[i] * alpha + beta, dsl.const(0.0, x.dtype)),
                                                   dsl.const(1.0, x.dtype)), name="hard_sigmoid", tag="elemwise")


def HardSwish(x: Tensor) -> Tensor:
    return T.multiply(x, HardSigmoid(x, alpha=1.0 / 6, beta=0.5))


def Softplus(x: Tensor) -> Tensor:
    return dsl.compute(x.shape, lambda *i: dsl.log(dsl.exp(x[i]) + 1.0), name="softplus", tag="elemwise")


def Gelu(x: Tensor, approximate: str = "none") -> Tensor:
    if approximate == "tanh":
        c = float(np.sqrt(2 / np.pi))
        return dsl.compute(x.shape, lambda *i: x[i] * 0.5 * (dsl.tanh((x[i] + x[i] * x[i] * x[i] * 0.044715) * c)
                                                             + 1.0), name="gelu", tag="elemwise")
    r = float(1 / np.sqrt(2))
    return dsl.compute(x.shape, lambda *i: x[i] * 0.5 * (dsl.erf(x[i] * r) + 1.0), name="gelu", tag="elemwise")


def Clip6(x: Tensor, min: float = float("-inf"), max: float = float("inf")) -> Tensor:  # noqa: A002
    return T.clip(x, None if min == float("-inf") else min, None if max == float("inf") else max)


def Clip(x: Tensor, min: Tensor | None = None, max: Tensor | None = None) -> Tensor:  # noqa: A002
    y = x
    if min is not None:
        y = T.maximum(y, min)
    if max is not None:
        y = T.minimum(y, max)
    return y if y is not x else T.identity(x)


def Cast(x: Tensor, to: int = 1, saturate: int = 1) -> Tensor:
    return T.cast(x, ONNX_DTYPES[to])


def Identity(x: Tensor) -> Tensor:
    return T.identity(x)


def Dropout(x: Tensor, *rest: Any, ratio: float = 0.5, is_test: int = 0, seed: int = 0) -> Tensor:
    return T.identity(x)


Add, Sub, Mul = _binary(T.add), _binary(T.subtract), _binary(T.multiply)
Div, Pow = _binary(T.divide), _binary(T.power)
Equal, Less, Greater = _binary(T.equal), _binary(T.less), _binary(T.greater)
LessOrEqual, GreaterOrEqual = _binary(T.less_equal), _binary(T.greater_equal)
And, Or = _binary(T.logical_and), _binary(T.logical_or)


def Sum(*xs: Tensor) -> Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = T.add(out, x)
    return out if len(xs) > 1 else T.identity(out)


def Max(*xs: Tensor) -> Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = T.maximum(out, x)
    return out if len(xs) > 1 else T.identity(out)


def Min(*xs: Tensor) -> Tensor:
    out = xs[0]
    for x in xs[1:]:
        out = T.minimum(out, x)
    return out if len(xs) > 1 else T.identity(out)


def Where(c: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return T.where(c, a, b)


def PRelu(x: Tensor, slope: Tensor) -> Tensor:
    return T.where(T.less(x, dsl.const(0, x.dtype)), T.multiply(x, slope), x)


# ------------------------------------------------------------------ nn
def Conv(x: Tensor, w: Tensor, b: Tensor | None = None, *, auto_pad: str = "NOTSET", dilations: Sequence[int] = (1, 1),
         group: int = 1, kernel_shape: Sequence[int] | None = None, pads: Sequence[int] | None = None,
         strides: Sequence[int] = (1, 1)) -> Tensor:
    if x.ndim != 4:
        raise NotImplementedError(f"Conv: only 2-D convolution (4-D NCHW input) is supported, got {x.ndim}-D")
    kshape = [int(d) for d in w.shape[2:]]
    p = _auto_pads(x, kshape, strides, dilations, auto_pad, pads)
    c, o = int(x.shape[1]), int(w.shape[0])
    if group > 1 and group == c and o == c and int(w.shape[1]) == 1:
        y = T.depthwise_conv2d_nchw(x, w, tuple(strides), tuple(p), tuple(dilations))
    else:
        y = T.conv2d_nchw(x, w, tuple(strides), tuple(p), tuple(dilations), groups=group)
    if b is not None:
        y = T.add(y, T.reshape(b, (1, o, 1, 1)))
    return y


def ConvTranspose(x: Tensor, w: Tensor, b: Tensor | None = None, *, auto_pad: str = "NOTSET",
                  dilations: Sequence[int] = (1, 1), group: int = 1, kernel_shape: Sequence[int] | None = None,
                  output_padding: Sequence[int] = (0, 0), output_shape: Sequence[int] | None = None,
                  pads: Sequence[int] | None = None, strides: Sequence[int] = (1, 1)) -> Tensor:
    """Transposed conv as a direct gather: y[n,o,i,j] = sum x[n,c,(i+pt-kh*d)/s,...] w[c,o,kh,kw] where divisible."""
    if x.ndim != 4 or group != 1 or auto_pad not in ("NOTSET", "VALID") or output_shape is not None:
        raise NotImplementedError("ConvTranspose: only 2-D, group=1, explicit pads (no output_shape) is supported")
    n, c, h, wd = (int(d) for d in x.shape)
    _, o, kh, kw = (int(d) for d in w.shape)
    pt, pl, pb, pr = list(pads) if pads is not None else [0, 0, 0, 0]
    (sh, sw), (dh, dw) = strides, dilations
    oh = sh * (h - 1) + output_padding[0] + (kh - 1) * dh + 1 - pt - pb
    ow = sw * (wd - 1) + output_padding[1] + (kw - 1) * dw + 1 - pl - pr
    rc, ry, rx = dsl.reduce_axis((0, c), "rc"), dsl.reduce_axis((0, kh), "ry"), dsl.reduce_axis((0, kw), "rx")

    def f(bn: Any, oc: Any, i: Any, j: Any) -> Any:
        yy, xx = i + pt - ry * dh, j + pl - rx * dw
        ok = dsl.all(yy >= 0, xx >= 0, yy % sh == 0, xx % sw == 0, yy // sh < h, xx // sw < wd)
        iy, ix = dsl.min(dsl.max(yy // sh, 0), h - 1), dsl.min(dsl.max(xx // sw, 0), wd - 1)
        return dsl.sum(x[bn, rc, iy, ix] * w[rc, oc, ry, rx], axis=[rc, ry, rx], where=ok)

    y = dsl.compute((n, o, oh, ow), f, name="conv_transpose", tag="conv2d_transpose")
    if b is not None:
        y = T.add(y, T.reshape(b, (1, o, 1, 1)))
    return y


def _pool_args(x: Tensor, kernel_shape: Sequence[int], strides: Sequence[int] | None, pads: Sequence[int] | None,
               auto_pad: str, dilations: Sequence[int] | None, layout: str = "NCHW") -> tuple[tuple[int, ...], ...]:
    if x.ndim != (5 if layout == "NCHWc" else 4):
        raise NotImplementedError(f"pooling: only 2-D pooling (4-D NCHW input) is supported, got {x.ndim}-D")
    k = tuple(int(v) for v in kernel_shape)
    s = tuple(strides) if strides is not None else (1, 1)
    d = tuple(dilations) if dilations is not None else (1, 1)
    return k, s, d, tuple(_auto_pads(x, k, s, d, auto_pad, pads))


def MaxPool(x: Tensor, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, dilations: Sequence[int] | None = None,
            kernel_shape: Sequence[int] = (), pads: Sequence[int] | None = None, storage_order: int = 0,
            strides: Sequence[int] | None = None, tex_layout: str = "NCHW") -> Tensor:
    k, s, d, p = _pool_args(x, kernel_shape, strides, pads, auto_pad, dilations, tex_layout)
    return T.max_pool2d(x, k, s, p, d, ceil_mode=bool(ceil_mode))


def AveragePool(x: Tensor, *, auto_pad: str = "NOTSET", ceil_mode: int = 0, count_include_pad: int = 0,
                dilations: Sequence[int] | None = None, kernel_shape: Sequence[int] = (),
                pads: Sequence[int] | None = None, strides: Sequence[int] | None = None,
                tex_layout: str = "NCHW") -> Tensor:
    k, s, d, p = _pool_args(x, kernel_shape, strides, pads, auto_pad, dilations, tex_layout)
    return T.avg_pool2d(x, k, s, p, d, ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))


# tex_layout="NCHWc": x is NCHW[b]c (passes/layout.py); the pool runs over axes 2 and 3 and keeps the block
def GlobalAveragePool(x: Tensor, tex_layout: str = "NCHW") -> Tensor:
    if x.ndim == 4 or tex_layout == "NCHWc":
        return T.global_avg_pool2d(x)
    return T.reduce_mean(x, tuple(range(2, x.ndim)), keepdims=True)


def GlobalMaxPool(x: Tensor, tex_layout: str = "NCHW") -> Tensor:
    if x.ndim == 4 or tex_layout == "NCHWc":
        return T.global_max_pool2d(x)
    return T.reduce_max(x, tuple(range(2, x.ndim)), keepdims=True)


def LayoutTransform(x: Tensor, *, src: str, dst: str) -> Tensor:
    """tex's own node (passes/layout.py): x from layout src to dst, "NCHW" or "NCHW<b>c"."""
    return T.layout_transform(x, src, dst)


def BatchNormalization(x: Tensor, scale: Tensor, b: Tensor, mean: Tensor, var: Tensor, *, epsilon: float = 1e-5,
                       momentum: float = 0.9, spatial: int = 1, training_mode: int = 0,
                       consumed_inputs: Sequence[int] = ()) -> Tensor:
    if training_mode:
        raise NotImplementedError("BatchNormalization: training_mode=1 is not supported (inference only)")
    return T.batch_norm_inference(x, scale, b, mean, var, eps=epsilon, axis=1)


def LRN(x: Tensor, *, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0) -> Tensor:
    return T.lrn(x, size, alpha, beta, bias, axis=1)


def Gemm(a: Tensor, b: Tensor, c: Tensor | None = None, *, alpha: float = 1.0, beta: float = 1.0, transA: int = 0,
         transB: int = 0, broadcast: int = 0) -> Tensor:
    if transA:
        a = T.transpose(a, (1, 0))
    y = T.dense(a, b) if transB else T.matmul(a, b)
    if alpha != 1.0:
        y = T.multiply(y, dsl.const(float(alpha), y.dtype))
    if c is not None and beta != 0.0:
        y = T.add(y, c if beta == 1.0 else T.multiply(c, dsl.const(float(beta), c.dtype)))
    return y


def MatMul(a: Tensor, b: Tensor) -> Tensor:
    return T.matmul(a, b)


def _softmax(fn: Callable[[Tensor, int], Tensor], x: Tensor, axis: int, legacy: bool) -> Tensor:
    axis = axis + x.ndim if axis < 0 else axis
    if legacy and axis != x.ndim - 1:  # opset < 13: coerce to 2-D at `axis`, normalise over the flat tail
        shape = tuple(int(d) for d in x.shape)
        lead = int(np.prod(shape[:axis], dtype=np.int64))
        y = fn(T.reshape(x, (lead, int(np.prod(shape[axis:], dtype=np.int64)))), -1)
        return T.reshape(y, shape)
    return fn(x, axis)


def Softmax1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _softmax(T.softmax, x, axis, legacy=True)


def Softmax(x: Tensor, *, axis: int = -1) -> Tensor:
    return _softmax(T.softmax, x, axis, legacy=False)


def LogSoftmax1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _softmax(T.log_softmax, x, axis, legacy=True)


def LogSoftmax(x: Tensor, *, axis: int = -1) -> Tensor:
    return _softmax(T.log_softmax, x, axis, legacy=False)


def LayerNormalization(x: Tensor, scale: Tensor, b: Tensor | None = None, *, axis: int = -1, epsilon: float = 1e-5,
                       stash_type: int = 1) -> Tensor:
    axis = axis + x.ndim if axis < 0 else axis
    if axis != x.ndim - 1:
        raise NotImplementedError(f"LayerNormalization: only the last axis is supported, got axis={axis}")
    return T.layer_norm(x, scale, b, axis=-1, eps=epsilon)


# ------------------------------------------------------------------ shape and data movement
def Reshape(x: Tensor, shape: np.ndarray, *, allowzero: int = 0) -> Tensor:
    src = [int(d) for d in x.shape]
    dims = _ints(shape)
    dims = [src[i] if d == 0 and not allowzero else d for i, d in enumerate(dims)]
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1], dtype=np.int64))
        dims[dims.index(-1)] = int(np.prod(src, dtype=np.int64)) // max(known, 1)
    return T.reshape(x, dims)


def Reshape1(x: Tensor, *, shape: Sequence[int] = ()) -> Tensor:
    return Reshape(x, np.asarray(shape))


def Flatten(x: Tensor, *, axis: int = 1) -> Tensor:
    shape = [int(d) for d in x.shape]
    axis = axis + x.ndim if axis < 0 else axis
    return T.reshape(x, (int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis:], dtype=np.int64))))


def Unsqueeze1(x: Tensor, *, axes: Sequence[int] = ()) -> Tensor:
    return Unsqueeze(x, np.asarray(axes))


def Unsqueeze(x: Tensor, axes: np.ndarray) -> Tensor:
    nd = x.ndim + len(_ints(axes))
    ax = sorted(a + nd if a < 0 else a for a in _ints(axes))
    shape = [int(d) for d in x.shape]
    for a in ax:
        shape.insert(a, 1)
    return T.reshape(x, shape)


def Squeeze1(x: Tensor, *, axes: Sequence[int] | None = None) -> Tensor:
    return Squeeze(x, None if axes is None else np.asarray(axes))


def Squeeze(x: Tensor, axes: np.ndarray | None = None) -> Tensor:
    shape = [int(d) for d in x.shape]
    ax = {a + x.ndim if a < 0 else a for a in _ints(axes)} if axes is not None else \
        {i for i, d in enumerate(shape) if d == 1}
    return T.reshape(x, [d for i, d in enumerate(shape) if i not in ax])


def Transpose(x: Tensor, *, perm: Sequence[int] | None = None) -> Tensor:
    return T.transpose(x, tuple(perm) if perm is not None else tuple(reversed(range(x.ndim))))


def Concat(*xs: Tensor, axis: int = 0) -> Tensor:
    return T.concatenate(list(xs), axis)


def Split(x: Tensor, split: np.ndarray | None = None, *, axis: int = 0, num_outputs: int | None = None,
          _n_out: int = 1) -> tuple[Tensor, ...]:
    dim = int(x.shape[axis])
    if split is not None:
        sizes = _ints(split)
    else:
        n = num_outputs or _n_out
        step = -(-dim // n)
        sizes = [min(step, dim - i * step) for i in range(n)]
    return tuple(T.split(x, sizes, axis))


def Split2(x: Tensor, *, axis: int = 0, split: Sequence[int] | None = None, _n_out: int = 1) -> tuple[Tensor, ...]:
    return Split(x, None if split is None else np.asarray(split), axis=axis, _n_out=_n_out)


def Slice(x: Tensor, starts: np.ndarray, ends: np.ndarray, axes: np.ndarray | None = None,
          steps: np.ndarray | None = None) -> Tensor:
    st, en = _ints(starts), _ints(ends)
    ax = _ints(axes) if axes is not None else list(range(len(st)))
    sp = _ints(steps) if steps is not None else [1] * len(st)
    ax = [a + x.ndim if a < 0 else a for a in ax]
    big = 2**62
    en = [min(max(e, -big), big) for e in en]
    st = [min(max(s, -big), big) for s in st]
    return T.strided_slice(x, st, en, sp, ax)


def Slice1(x: Tensor, *, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None = None) -> Tensor:
    return Slice(x, np.asarray(starts), np.asarray(ends), None if axes is None else np.asarray(axes))


def Gather(x: Tensor, indices: Tensor, *, axis: int = 0) -> Tensor:
    axis = axis + x.ndim if axis < 0 else axis
    dim = int(x.shape[axis])
    # negative indices count from the end (ONNX); clamp keeps the read in bounds
    fixed = dsl.compute(indices.shape, lambda *i: dsl.if_then_else(indices[i] < 0, indices[i] + dim, indices[i]),
                        name="gather_index", tag="elemwise")
    return T.take(x, fixed, axis)


def Expand(x: Tensor, shape: np.ndarray) -> Tensor:
    target = _ints(shape)
    src = [int(d) for d in x.shape]
    nd = max(len(target), len(src))
    a = [1] * (nd - len(src)) + src
    b = [1] * (nd - len(target)) + target
    out = [max(p, q) if 1 in (p, q) else p for p, q in zip(a, b)]
    return T.broadcast_to(T.reshape(x, a) if len(a) != len(src) else x, out)


def Pad(x: Tensor, pads: np.ndarray, constant_value: np.ndarray | None = None, axes: np.ndarray | None = None, *,
        mode: str = "constant") -> Tensor:
    if mode != "constant":
        raise NotImplementedError(f"Pad: only mode='constant' is supported, got {mode!r}")
    p = _ints(pads)
    n = len(p) // 2
    ax = [a + x.ndim if a < 0 else a for a in _ints(axes)] if axes is not None else list(range(x.ndim))
    before, after = [0] * x.ndim, [0] * x.ndim
    for k, a in enumerate(ax[:n]):
        before[a], after[a] = p[k], p[k + n]
    value = np.asarray(constant_value).item() if constant_value is not None and np.size(constant_value) else 0
    return T.pad(x, before, after, value)


def Pad2(x: Tensor, *, pads: Sequence[int] = (), mode: str = "constant", value: float = 0.0) -> Tensor:
    return Pad(x, np.asarray(pads), np.asarray(value), mode=mode)


def Resize(x: Tensor, roi: np.ndarray | None = None, scales: np.ndarray | None = None,
           sizes: np.ndarray | None = None, *, antialias: int = 0, axes: Sequence[int] | None = None,
           coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
           exclude_outside: int = 0, extrapolation_value: float = 0.0, keep_aspect_ratio_policy: str = "stretch",
           mode: str = "nearest", nearest_mode: str = "round_prefer_floor") -> Tensor:
    if antialias and mode != "nearest":
        raise NotImplementedError("Resize: antialias=1 is not supported")
    if coordinate_transformation_mode == "tf_crop_and_resize":
        raise NotImplementedError("Resize: coordinate_transformation_mode 'tf_crop_and_resize' is not supported")
    in_shape = [int(d) for d in x.shape]
    ax = [a + x.ndim if a < 0 else a for a in axes] if axes is not None else list(range(x.ndim))
    out, sc = list(in_shape), [1.0] * x.ndim
    if sizes is not None and np.size(sizes):
        want = _ints(sizes)
        if len(want) != len(ax):
            raise ValueError(f"Resize: 'sizes' has {len(want)} entries for {len(ax)} axes of '{x.name}'")
        if keep_aspect_ratio_policy == "stretch":
            for a, n in zip(ax, want, strict=True):
                out[a], sc[a] = n, n / in_shape[a]
        elif keep_aspect_ratio_policy in ("not_larger", "not_smaller"):
            pick = min if keep_aspect_ratio_policy == "not_larger" else max
            ratio = pick(n / in_shape[a] for a, n in zip(ax, want, strict=True))
            for a in ax:
                out[a], sc[a] = int(in_shape[a] * ratio + 0.5), ratio
        else:
            raise ValueError(f"Resize: unknown keep_aspect_ratio_policy {keep_aspect_ratio_policy!r}")
    elif scales is not None and np.size(scales):
        given = [float(v) for v in np.asarray(scales).reshape(-1)]
        if len(given) != len(ax):
            raise ValueError(f"Resize: 'scales' has {len(given)} entries for {len(ax)} axes of '{x.name}'")
        for a, v in zip(ax, given, strict=True):
            out[a], sc[a] = int(np.floor(in_shape[a] * v)), v
    else:
        raise ValueError(f"Resize: '{x.name}' needs a constant 'scales' or 'sizes' input")
    return T.resize(x, out, sc, mode, coordinate_transformation_mode, nearest_mode)


def Resize10(x: Tensor, scales: np.ndarray, *, mode: str = "nearest") -> Tensor:
    # opset 10 (and Upsample): asymmetric coordinates; onnxruntime's "simple" nearest rounds down when
    # upsampling and up when downsampling
    down = any(float(v) < 1 for v in np.asarray(scales).reshape(-1))
    return Resize(x, None, scales, coordinate_transformation_mode="asymmetric", mode=mode,
                  nearest_mode="ceil" if down else "floor")


def Upsample7(x: Tensor, *, mode: str = "nearest", scales: Sequence[float] = ()) -> Tensor:
    return Resize10(x, np.asarray(scales, np.float32), mode=mode)


def _reduce(fn: Callable[..., Tensor]) -> tuple[Lowering, Lowering]:
    def attr_axes(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
        return fn(x, tuple(axes) if axes is not None else None, keepdims=bool(keepdims))

    def input_axes(x: Tensor, axes: np.ndarray | None = None, *, keepdims: int = 1,
                   noop_with_empty_axes: int = 0) -> Tensor:
        ax = tuple(_ints(axes)) if axes is not None and np.size(axes) else None
        if ax is None and noop_with_empty_axes:
            return T.identity(x)
        return fn(x, ax, keepdims=bool(keepdims))
    return attr_axes, input_axes


ReduceMean1, ReduceMean = _reduce(T.reduce_mean)
ReduceSum1, ReduceSum = _reduce(T.reduce_sum)
ReduceMax1, ReduceMax = _reduce(T.reduce_max)
ReduceMin1, ReduceMin = _reduce(T.reduce_min)
ReduceProd1, ReduceProd = _reduce(T.reduce_prod)


# ------------------------------------------------------------------ the table
OPS: dict[str, dict[int, Lowering]] = {
    "Relu": {1: Relu}, "Sigmoid": {1: Sigmoid}, "Tanh": {1: Tanh}, "Exp": {1: Exp}, "Log": {1: Log},
    "Sqrt": {1: Sqrt}, "Erf": {9: Erf}, "Neg": {1: Neg}, "Abs": {1: Abs}, "Floor": {1: Floor}, "Ceil": {1: Ceil},
    "Reciprocal": {1: Reciprocal}, "LeakyRelu": {1: LeakyRelu}, "Elu": {1: Elu}, "HardSigmoid": {1: HardSigmoid},
    "HardSwish": {14: HardSwish}, "Softplus": {1: Softplus}, "Gelu": {20: Gelu},
    "Clip": {1: Clip6, 11: Clip}, "Cast": {1: Cast}, "Identity": {1: Identity}, "Dropout": {1: Dropout},
    "Add": {1: Add}, "Sub": {1: Sub}, "Mul": {1: Mul}, "Div": {1: Div}, "Pow": {1: Pow}, "Equal": {1: Equal},
    "Less": {1: Less}, "Greater": {1: Greater}, "LessOrEqual": {12: LessOrEqual},
    "GreaterOrEqual": {12: GreaterOrEqual}, "And": {1: And}, "Or": {1: Or},
    "Sum": {1: Sum}, "Max": {1: Max}, "Min": {1: Min}, "Where": {9: Where}, "PRelu": {1: PRelu},
    "Conv": {1: Conv}, "ConvTranspose": {1: ConvTranspose}, "MaxPool": {1: MaxPool}, "AveragePool": {1: AveragePool},
    "GlobalAveragePool": {1: GlobalAveragePool}, "GlobalMaxPool": {1: GlobalMaxPool},
    "BatchNormalization": {1: BatchNormalization}, "LRN": {1: LRN}, "Gemm": {1: Gemm}, "MatMul": {1: MatMul},
    "Softmax": {1: Softmax1, 13: Softmax}, "LogSoftmax": {1: LogSoftmax1, 13: LogSoftmax},
    "LayerNormalization": {17: LayerNormalization},
    "Reshape": {1: Reshape1, 5: Reshape}, "Flatten": {1: Flatten}, "Unsqueeze": {1: Unsqueeze1, 13: Unsqueeze},
    "Squeeze": {1: Squeeze1, 13: Squeeze}, "Transpose": {1: Transpose}, "Concat": {1: Concat},
    "Split": {1: Split2, 13: Split}, "Slice": {1: Slice1, 10: Slice}, "Gather": {1: Gather}, "Expand": {8: Expand},
    "Pad": {1: Pad2, 11: Pad}, "ReduceMean": {1: ReduceMean1, 18: ReduceMean},
    "ReduceSum": {1: ReduceSum1, 13: ReduceSum}, "ReduceMax": {1: ReduceMax1, 18: ReduceMax},
    "ReduceMin": {1: ReduceMin1, 18: ReduceMin}, "ReduceProd": {1: ReduceProd1, 18: ReduceProd},
    "Resize": {10: Resize10, 11: Resize}, "Upsample": {7: Upsample7, 9: Resize10},
    "tex.LayoutTransform": {1: LayoutTransform},
}

# inputs that must be compile-time constants (passed as numpy arrays), by op and lowering function
STATIC_INPUTS: dict[Lowering, tuple[int, ...]] = {
    Reshape: (1,), Unsqueeze: (1,), Squeeze: (1,), Split: (1,), Slice: (1, 2, 3, 4), Expand: (1,),
    Pad: (1, 2, 3), ReduceMean: (1,), ReduceSum: (1,), ReduceMax: (1,), ReduceMin: (1,),
    ReduceProd: (1,), Resize: (1, 2, 3), Resize10: (1,),
}

# ops evaluated only at compile time (their outputs must fold to constants): handled by constant folding
COMPILE_TIME_OPS = frozenset({"Constant", "Shape", "ConstantOfShape", "Size", "Range"})


def lookup(op_type: str, opset: int) -> Lowering | None:
    """The lowering of `op_type` at `opset` (newest version <= opset), or None when tex has none."""
    versions = OPS.get(op_type)
    if not versions:
        return None
    best = [v for v in versions if v <= opset]
    return versions[max(best)] if best else None


def supported(op_type: str, domain: str = "", opset: int = 21) -> bool:
    return domain in ("", "ai.onnx") and (op_type in COMPILE_TIME_OPS or lookup(op_type, opset) is not None)
