"""numpy references shared by the operator tests."""

from __future__ import annotations

import numpy as np


def np_conv2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int], pad: tuple[int, int, int, int],
              dil: tuple[int, int], groups: int = 1, acc: str | None = None) -> np.ndarray:
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    acc = acc or x.dtype
    xp = np.zeros((n, c, h + pad[0] + pad[2], wd + pad[1] + pad[3]), dtype=acc)
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    oh = (h + pad[0] + pad[2] - (kh - 1) * dil[0] - 1) // stride[0] + 1
    ow = (wd + pad[1] + pad[3] - (kw - 1) * dil[1] - 1) // stride[1] + 1
    out = np.zeros((n, o, oh, ow), dtype=acc)
    opg = o // groups
    for oc in range(o):
        g = oc // opg
        for ry in range(kh):
            for rx in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, ry * dil[0]:ry * dil[0] + (oh - 1) * stride[0] + 1:stride[0],
                           rx * dil[1]:rx * dil[1] + (ow - 1) * stride[1] + 1:stride[1]]
                out[:, oc] += np.einsum("nchw,c->nhw", patch, w[oc, :, ry, rx].astype(acc))
    return out


def np_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
