"""Normalisations: layer_norm (ONNX LayerNormalization) and batch_norm_inference.

layer_norm over dims axis..ndim-1 (n elements each):
  mean = sum(x) / n;  var = sum((x - mean)^2) / n;  out = (x - mean) * rsqrt(var + eps) * gamma + beta
batch_norm_inference: out = (x - mean[c]) * scale[c] / sqrt(var[c] + eps) + bias[c], c the index on `axis`.
"""

from __future__ import annotations

import math

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import as_tensor_check, broadcast_index, normalize_axis, static_shape


def layer_norm(x: Tensor, gamma: Tensor | None = None, beta: Tensor | None = None, axis: int = -1,
               eps: float = 1e-5) -> Tensor:
    """Normalise over dims `axis`..end; gamma and beta broadcast against x.shape[axis:] (None: 1 and 0)."""
    as_tensor_check(x, "layer_norm", "x")
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"layer_norm: x must be a float tensor, got {x.dtype} tensor '{x.name}'")
    shape = static_shape(x, "layer_norm")
    ax = normalize_axis(axis, x.ndim, "layer_norm")
    inner = shape[ax:]
    for nm, t in (("gamma", gamma), ("beta", beta)):
        if t is not None:
            as_tensor_check(t, "layer_norm", nm)
            if t.ndim > len(inner) or any(s != 1 and s != inner[len(inner) - t.ndim + d] for d, s in
                                          enumerate(t.shape)):
                raise ValueError(f"layer_norm: {nm} '{t.name}' of shape {t.shape} does not broadcast to the "
                                 f"normalised dims {inner}")
    n = math.prod(inner)
    dt = "float32" if x.dtype == "float16" else x.dtype
    outer = shape[:ax]
    ks = [dsl.reduce_axis((0, s), name=f"k{d}") for d, s in enumerate(inner)]
    kv = tuple(k.var for k in ks)
    s1 = dsl.compute(outer, lambda *i: dsl.sum(E.cast(x[tuple(i) + kv], dt), axis=ks), name="layer_norm_sum",
                     tag="reduce")
    inv_n = E.const(1.0 / n, dt)
    ks2 = [dsl.reduce_axis((0, s), name=f"k{d}") for d, s in enumerate(inner)]
    kv2 = tuple(k.var for k in ks2)

    def sq(*i: Expr) -> Expr:
        d = E.cast(x[tuple(i) + kv2], dt) - s1[i] * inv_n
        return dsl.sum(d * d, axis=ks2)

    s2 = dsl.compute(outer, sq, name="layer_norm_sqsum", tag="reduce")
    ep = E.const(float(eps), dt)

    def f(*i: Expr) -> Expr:
        o, r = i[:ax], i[ax:]
        v = (E.cast(x[i], dt) - s1[o] * inv_n) * dsl.rsqrt(s2[o] * inv_n + ep)
        if gamma is not None:
            v = v * E.cast(gamma[broadcast_index(gamma, inner, r)], dt)
        if beta is not None:
            v = v + E.cast(beta[broadcast_index(beta, inner, r)], dt)
        return E.cast(v, x.dtype)

    return dsl.compute(x.shape, f, name="layer_norm", tag="layer_norm")


def batch_norm_inference(x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, var: Tensor, eps: float = 1e-5,
                         axis: int = 1) -> Tensor:
    """Inference batch norm with per-channel statistics along `axis` (each a 1-D tensor of that size)."""
    as_tensor_check(x, "batch_norm_inference", "x")
    ax = normalize_axis(axis, x.ndim, "batch_norm_inference")
    for nm, t in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var)):
        as_tensor_check(t, "batch_norm_inference", nm)
        if t.ndim != 1 or t.shape[0] != x.shape[ax]:
            raise ValueError(f"batch_norm_inference: {nm} '{t.name}' must have shape ({x.shape[ax]},), "
                             f"got {t.shape}")
    dt = "float32" if x.dtype == "float16" else x.dtype
    ep = E.const(float(eps), dt)

    def f(*i: Expr) -> Expr:
        c = (i[ax],)
        v = (E.cast(x[i], dt) - E.cast(mean[c], dt)) * E.cast(scale[c], dt) * dsl.rsqrt(E.cast(var[c], dt) + ep)
        return E.cast(v + E.cast(bias[c], dt), x.dtype)

    return dsl.compute(x.shape, f, name="batch_norm", tag="broadcast")


def lrn(x: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0, axis: int = 1) -> Tensor:
    """Local response normalisation across channels (ONNX LRN):
    out = x / (bias + alpha / size * sum_{c' in window(c)} x[c']^2) ** beta,
    window(c) = [c - (size - 1) // 2, c + ceil((size - 1) / 2)] clipped to the channels."""
    as_tensor_check(x, "lrn", "x")
    if not dtypes.is_float(x.dtype):
        raise TypeError(f"lrn: x must be a float tensor, got {x.dtype} tensor '{x.name}'")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"lrn: size must be a positive int, got {size!r}")
    ax = normalize_axis(axis, x.ndim, "lrn")
    channels = x.shape[ax]
    lo = (size - 1) // 2
    dt = "float32" if x.dtype == "float16" else x.dtype
    r = dsl.reduce_axis((0, size), name="rc")

    def sq(*i: Expr) -> Expr:
        c = i[ax] - lo + r.var
        v = E.cast(x[i[:ax] + (dsl.min(dsl.max(c, 0), channels - 1),) + i[ax + 1:]], dt)
        return dsl.sum(v * v, axis=r, where=dsl.all(c >= 0, c < channels))

    sqsum = dsl.compute(x.shape, sq, name="lrn_sqsum", tag="reduce")
    scale = E.const(float(alpha) / size, dt)

    def f(*i: Expr) -> Expr:
        den = dsl.pow(E.const(float(bias), dt) + scale * sqsum[i], E.const(float(beta), dt))
        return E.cast(E.cast(x[i], dt) / den, x.dtype)

    return dsl.compute(x.shape, f, name="lrn", tag="lrn")
