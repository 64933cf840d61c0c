"""Dense layers for x86 CPUs: `out = act(x @ W^T + bias)` with weights packed ahead of time.

Weights are constants in a model, so they are repacked once, outside the kernel, into column panels
`Wp[j // bn, k, j % bn]` (see `pack_dense_weight`); the kernel reads one panel row per k as `bn`
contiguous floats. The reduction runs in a `local` buffer holding one `tile_m x bn` register tile,
computed at the output's tile loop, and the bias and activation are applied as that tile is written out.
The accumulation covers M rounded up to whole tiles (x's row index clamped; extra rows never stored), so
the k loop carries no row guard (one per row there makes LLVM spill the tile on every k step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.x86.matmul import padded_rows, schedule_gemm_tile
from tex.schedule import Schedule

ACTIVATIONS = (None, "relu", "sigmoid", "tanh")


@dataclass(frozen=True)
class DenseBlocking:
    """Register tile (tile_m rows x bn columns), k unrolling, and whether the tile loop runs in parallel.

    The defaults are the AVX-512 blocking; `vector` splits the tile's columns into native vectors of that
    many lanes (0: one vector of bn), as `MatmulBlocking.vector`.
    """

    tile_m: int = 8
    bn: int = 32
    unroll_k: int = 4
    parallel: bool = True
    vector: int = 0


@dataclass(frozen=True)
class Dense:
    x: Tensor
    weight: Tensor  # packed: (ceil(N / bn), K, bn)
    bias: Tensor | None
    acc: Tensor
    out: Tensor


def pack_dense_weight(w: np.ndarray, bn: int, layout: str = "NK") -> np.ndarray:
    """Panels `(ceil(N / bn), K, bn)` of a weight given as (N, K) (ONNX Gemm transB=1) or (K, N) (MatMul)."""
    if layout not in ("NK", "KN"):
        raise ValueError(f"pack_dense_weight: layout must be 'NK' or 'KN', got {layout!r}")
    wk = w.T if layout == "NK" else w  # (K, N)
    k, n = wk.shape
    panels = -(-n // bn)
    padded = np.zeros((k, panels * bn), dtype=w.dtype)
    padded[:, :n] = wk
    return np.ascontiguousarray(padded.reshape(k, panels, bn).transpose(1, 0, 2))


def dense(M: int, N: int, K: int, bn: int = 32, bias: bool = False, activation: str | None = None,
          dtype: str = "float32", tile_m: int = 1) -> Dense:
    """x (M, K), packed weight (ceil(N / bn), K, bn), optional bias (N,) -> act(x @ W^T + bias) (M, N).

    Pass the schedule's tile_m: the accumulation covers M rounded up to it."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"dense: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if tile_m < 1:
        raise ValueError(f"dense: tile_m must be >= 1, got {tile_m}")
    x = dsl.placeholder((M, K), dtype=dtype, name="x")
    panels = -(-N // bn)
    w = dsl.placeholder((panels, K, bn), dtype=dtype, name="weight")
    k = dsl.reduce_axis((0, K), name="k")
    mp = padded_rows(M, tile_m)

    def row(i: object) -> object:
        return i if mp == M else dsl.min(i, M - 1)  # padded rows re-read row M-1; they are never stored

    acc = dsl.compute((mp, panels * bn), lambda i, j: dsl.sum(x[row(i), k] * w[j // bn, k, j % bn], axis=k),
                      name="acc", tag="dense")
    b = dsl.placeholder((N,), dtype=dtype, name="bias") if bias else None

    def epilogue(i: object, j: object) -> object:
        v = acc[i, j]  # type: ignore[index]
        if b is not None:
            v = v + b[j]  # type: ignore[index]
        if activation == "relu":
            v = dsl.max(v, dsl.const(0, dtype))
        elif activation == "sigmoid":
            v = dsl.sigmoid(v)
        elif activation == "tanh":
            v = dsl.tanh(v)
        return v

    out = dsl.compute((M, N), epilogue, name="out", tag="dense_epilogue")
    return Dense(x, w, b, acc, out)


def schedule_dense(s: Schedule, d: Dense, blocking: DenseBlocking = DenseBlocking()) -> None:
    """Tiles of the output in parallel; each accumulates its tile_m x bn block in registers over all of k."""
    b = blocking
    bn = d.weight.shape[2]
    if b.bn != bn:
        raise ValueError(f"schedule_dense: bn ({b.bn}) must equal the panel width of the packed weight ({bn})")
    i, j = s[d.out].op.axis
    io, jo, _, ji = s[d.out].tile(i, j, b.tile_m, bn)
    tile = s[d.out].fuse(io, jo)  # with one row block (batch 1) the column blocks still spread over cores
    s[d.out].vectorize(ji)
    s[d.acc].set_scope("local")
    s[d.acc].compute_at(s[d.out], tile)
    schedule_gemm_tile(s, d.acc, bn, b.unroll_k, b.vector)
    if b.parallel:
        s[d.out].parallel(tile)
