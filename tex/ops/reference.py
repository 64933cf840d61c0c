"""numpy twins of some tex.ops computations: the references tuning templates check kernels against, and the
compile-time repacking of constants (float64 accumulation where it sums).

    conv2d_reference(x, w, strides, padding, dilation, groups)   NCHW x OIHW, padding (top, left, bottom, right)
    to_blocked(x, b) / from_blocked(x)                           NCHW <-> NCHW[b]c, as tex.ops.layout_transform
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tex.ops.nn.conv2d import conv_output_hw


def conv2d_reference(x: np.ndarray, w: np.ndarray, strides: Sequence[int], padding: Sequence[int],
                     dilation: Sequence[int], groups: int = 1) -> np.ndarray:
    """NCHW x OIHW convolution in numpy (float64 accumulation); padding is (top, left, bottom, right)."""
    n = x.shape[0]
    oc, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    pt, pl, pb, pr = padding
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = conv_output_hw(x.shape, w.shape, strides, padding, dilation)
    out = np.zeros((n, oc, oh, ow))
    opg = oc // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        ws = w[g * opg:(g + 1) * opg].astype(np.float64)
        for y in range(kh):
            for z in range(kw):
                patch = xs[:, :, y * dh: y * dh + sh * (oh - 1) + 1: sh, z * dw: z * dw + sw * (ow - 1) + 1: sw]
                out[:, g * opg:(g + 1) * opg] += np.einsum("nchw,oc->nohw", patch, ws[:, :, y, z])
    return out


def to_blocked(x: np.ndarray, b: int) -> np.ndarray:
    """NCHW -> NCHW[b]c: (N, C, H, W) -> (N, C/b, H, W, b)."""
    n, c, h, w = x.shape
    return np.ascontiguousarray(x.reshape(n, c // b, b, h, w).transpose(0, 1, 3, 4, 2))


def from_blocked(x: np.ndarray) -> np.ndarray:
    """NCHW[b]c -> NCHW: (N, C/b, H, W, b) -> (N, C, H, W)."""
    n, cb, h, w, b = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3).reshape(n, cb * b, h, w))
