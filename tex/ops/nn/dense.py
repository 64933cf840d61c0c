"""Matrix products: dense (x @ w^T + b), matmul (numpy semantics), batch_matmul.

dense:        out[i, j] = sum_k x[i, k] * w[j, k]                       (tag "dense")
matmul:       out[b..., i, j] = sum_k a[b_a..., i, k] * b[b_b..., k, j]  (tag "matmul", batch dims broadcast)
batch_matmul: out[b, i, j] = sum_k a[b, i, k] * b[b, k, j]              (tag "batch_matmul")
`out_dtype` is the accumulation and output dtype: int8 x int8 -> "int32" accumulates exactly.
"""

from __future__ import annotations

from tex.lang import dsl, dtypes
from tex.lang import expr as E
from tex.lang.expr import Expr
from tex.lang.tensor import Tensor
from tex.ops._util import as_tensor_check, broadcast_index, broadcast_shape, dim_equal, is_one


def _out_dtype(a: Tensor, b: Tensor, out_dtype: str | None, where: str) -> str:
    if out_dtype is not None:
        return dtypes.check(out_dtype, f"{where}: out_dtype")
    return dtypes.promote(a.dtype, b.dtype)


def dense(x: Tensor, w: Tensor, bias: Tensor | None = None, out_dtype: str | None = None) -> Tensor:
    """x (M, K), w (N, K), bias (N,) -> (M, N); the bias is added in its own "broadcast" stage."""
    as_tensor_check(x, "dense", "x")
    as_tensor_check(w, "dense", "w")
    if x.ndim != 2 or w.ndim != 2 or not dim_equal(x.shape[1], w.shape[1]):
        raise ValueError(f"dense: x must be (M, K) and w (N, K), got '{x.name}' {x.shape} and '{w.name}' {w.shape}")
    dt = _out_dtype(x, w, out_dtype, "dense")
    k = dsl.reduce_axis((0, x.shape[1]), name="k")
    out = dsl.compute((x.shape[0], w.shape[0]),
                      lambda i, j: dsl.sum(E.cast(x[i, k.var], dt) * E.cast(w[j, k.var], dt), axis=k),
                      name="dense", tag="dense")
    if bias is None:
        return out
    as_tensor_check(bias, "dense", "bias")
    if bias.ndim != 1 or not dim_equal(bias.shape[0], w.shape[0]):
        raise ValueError(f"dense: bias must be ({w.shape[0]},), got '{bias.name}' {bias.shape}")
    return dsl.compute(out.shape, lambda i, j: out[i, j] + E.cast(bias[j], dt), name="dense_bias", tag="broadcast")


def matmul(a: Tensor, b: Tensor, out_dtype: str | None = None) -> Tensor:
    """numpy's a @ b: 1-D operands get a dim of 1 added (and dropped from the result), batch dims broadcast."""
    as_tensor_check(a, "matmul", "a")
    as_tensor_check(b, "matmul", "b")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dim, got '{a.name}' {a.shape} and "
                         f"'{b.name}' {b.shape}")
    ash = ((1,) + a.shape) if a.ndim == 1 else a.shape
    bsh = (b.shape + (1,)) if b.ndim == 1 else b.shape
    if not dim_equal(ash[-1], bsh[-2]):
        raise ValueError(f"matmul: inner dims differ: '{a.name}' {a.shape} @ '{b.name}' {b.shape}")
    batch = broadcast_shape([ash[:-2], bsh[:-2]], "matmul")
    m, n, kk = ash[-2], bsh[-1], ash[-1]
    dt = _out_dtype(a, b, out_dtype, "matmul")
    k = dsl.reduce_axis((0, kk), name="k")
    nb = len(batch)
    full = batch + (m, n)

    def f(*i: Expr) -> Expr:
        bi, mi, ni = i[:nb], i[nb], i[nb + 1]
        ai = broadcast_index(_Shape(ash[:-2]), batch, bi) + ((mi, k.var) if a.ndim > 1 else (k.var,))
        bj = broadcast_index(_Shape(bsh[:-2]), batch, bi) + ((k.var, ni) if b.ndim > 1 else (k.var,))
        return dsl.sum(E.cast(a[ai], dt) * E.cast(b[bj], dt), axis=k)

    out = dsl.compute(full, f, name="matmul", tag="matmul")
    if a.ndim > 1 and b.ndim > 1:
        return out
    keep = [d for d in range(len(full)) if not ((a.ndim == 1 and d == nb) or (b.ndim == 1 and d == nb + 1))]
    shape = tuple(full[d] for d in keep)

    def squeeze(*i: Expr) -> Expr:
        j: list[Expr] = [E.const(0, dtypes.INDEX)] * len(full)
        for d, v in zip(keep, i):
            j[d] = v
        return out[tuple(j)]

    return dsl.compute(shape, squeeze, name="matmul_squeeze", tag="injective")


class _Shape:
    """A stand-in with `.shape`/`.ndim` so broadcast_index can map batch indices."""

    def __init__(self, shape: tuple[int | Expr, ...]):
        self.shape = shape
        self.ndim = len(shape)


def batch_matmul(a: Tensor, b: Tensor, transpose_b: bool = False, out_dtype: str | None = None) -> Tensor:
    """a (B, M, K) @ b (B, K, N) (or b (B, N, K) with transpose_b) -> (B, M, N); a batch of 1 broadcasts."""
    as_tensor_check(a, "batch_matmul", "a")
    as_tensor_check(b, "batch_matmul", "b")
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError(f"batch_matmul: operands must be 3-D, got '{a.name}' {a.shape} and '{b.name}' {b.shape}")
    kb, n = (b.shape[2], b.shape[1]) if transpose_b else (b.shape[1], b.shape[2])
    if not dim_equal(a.shape[2], kb):
        raise ValueError(f"batch_matmul: inner dims differ: '{a.name}' {a.shape} and '{b.name}' {b.shape}"
                         f"{' (transpose_b)' if transpose_b else ''}")
    (nbatch,) = broadcast_shape([a.shape[:1], b.shape[:1]], "batch_matmul")
    dt = _out_dtype(a, b, out_dtype, "batch_matmul")
    k = dsl.reduce_axis((0, a.shape[2]), name="k")
    zero = E.const(0, dtypes.INDEX)

    def f(bi: Expr, i: Expr, j: Expr) -> Expr:
        ba = zero if is_one(a.shape[0]) and not is_one(nbatch) else bi
        bb = zero if is_one(b.shape[0]) and not is_one(nbatch) else bi
        bv = b[bb, j, k.var] if transpose_b else b[bb, k.var, j]
        return dsl.sum(E.cast(a[ba, i, k.var], dt) * E.cast(bv, dt), axis=k)

    return dsl.compute((nbatch, a.shape[1], n), f, name="batch_matmul", tag="batch_matmul")
