"""`resize`: nearest and (multi-)linear interpolation of any axes, with ONNX's coordinate transformations.

Each resized axis maps an output index `i` to a source coordinate `x`, computed in float64 and rounded to float32
(as onnxruntime does: 2 / (4/7) must be 3.5, a tie, not float32's 3.4999998);
"nearest" rounds `x` by `nearest_mode`, "linear" blends the two neighbours `floor(x)` and `floor(x) + 1`
after clamping `x` into the input (so borders repeat the edge value). Several linear axes blend their
2^k corners: bilinear for two, trilinear for three. Axes whose size and scale do not change read through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tex.lang import dsl
from tex.lang.expr import Expr, cast
from tex.lang.tensor import Tensor

COORDINATE_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _source(i: Expr, size_in: int, size_out: int, scale: float, mode: str) -> Expr:
    return cast(_source64(i, size_in, size_out, scale, mode), "float32")


def _source64(i: Expr, size_in: int, size_out: int, scale: float, mode: str) -> Expr:
    """The source coordinate of output index `i` along one axis, in float64."""
    x = cast(i, "float64")
    if mode == "asymmetric":
        return x / scale
    if mode == "align_corners":
        return dsl.const(0.0, "float64") if size_out == 1 else x * ((size_in - 1) / (size_out - 1))
    if mode == "pytorch_half_pixel" and size_out == 1:
        return dsl.const(0.0, "float64")
    src = (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        # the offset in float32, as onnxruntime computes it: in double an exact tie like 0.5 can land either side
        f32 = np.float32
        adjustment = f32(size_out) / (f32(scale) * f32(size_in))
        offset = f32(size_in) / f32(2) * (f32(1) - adjustment)
        return src + dsl.const(float(offset), "float64")
    return src


def _nearest(x: Expr, size_in: int, mode: str) -> Expr:
    rounded = {"round_prefer_floor": lambda: dsl.ceil(x - 0.5), "round_prefer_ceil": lambda: dsl.floor(x + 0.5),
               "floor": lambda: dsl.floor(x), "ceil": lambda: dsl.ceil(x)}[mode]()
    return dsl.min(dsl.max(cast(rounded, "int32"), 0), size_in - 1)


def resize(x: Tensor, out_shape: Sequence[int], scales: Sequence[float], mode: str = "nearest",
           coordinate_transformation_mode: str = "half_pixel", nearest_mode: str = "round_prefer_floor") -> Tensor:
    """Resize `x` to `out_shape`; `scales[d]` is the output/input ratio of axis d used by the coordinate map."""
    in_shape = [int(d) for d in x.shape]
    if len(out_shape) != len(in_shape) or len(scales) != len(in_shape):
        raise ValueError(f"resize: '{x.name}' has {len(in_shape)} axes; out_shape and scales need one entry each, "
                         f"got {list(out_shape)} and {list(scales)}")
    if any(int(s) < 1 for s in out_shape) or any(not s > 0 for s in scales):
        raise ValueError(f"resize: '{x.name}' would get output shape {list(out_shape)} with scales {list(scales)}; "
                         f"sizes must be >= 1 and scales > 0")
    if mode not in ("nearest", "linear"):
        raise NotImplementedError(f"resize: mode {mode!r} is not supported (nearest, linear)")
    if coordinate_transformation_mode not in COORDINATE_MODES:
        raise NotImplementedError(f"resize: coordinate_transformation_mode {coordinate_transformation_mode!r} is "
                                  f"not supported ({', '.join(COORDINATE_MODES)})")
    if nearest_mode not in NEAREST_MODES:
        raise ValueError(f"resize: nearest_mode must be one of {', '.join(NEAREST_MODES)}, got {nearest_mode!r}")
    moving = [d for d in range(len(in_shape)) if in_shape[d] != int(out_shape[d]) or float(scales[d]) != 1.0]

    def coord(d: int, i: Expr) -> Expr:
        return _source(i, in_shape[d], int(out_shape[d]), float(scales[d]), coordinate_transformation_mode)

    if mode == "nearest":
        def nearest(*idx: Expr) -> Expr:
            src = list(idx)
            for d in moving:
                src[d] = _nearest(coord(d, idx[d]), in_shape[d], nearest_mode)
            return x[tuple(src)]
        return dsl.compute(tuple(int(s) for s in out_shape), nearest, name="resize", tag="injective")

    def linear(*idx: Expr) -> Expr:
        lo: dict[int, Expr] = {}
        hi: dict[int, Expr] = {}
        frac: dict[int, Expr] = {}
        for d in moving:
            c = dsl.min(dsl.max(coord(d, idx[d]), 0.0), float(in_shape[d] - 1))
            lo[d] = cast(dsl.floor(c), "int32")
            hi[d] = dsl.min(lo[d] + 1, in_shape[d] - 1)
            frac[d] = c - cast(lo[d], "float32")
        total: Expr | None = None
        for corner in range(1 << len(moving)):
            src = list(idx)
            weight: Expr | None = None
            for bit, d in enumerate(moving):
                upper = corner >> bit & 1
                src[d] = hi[d] if upper else lo[d]
                w = frac[d] if upper else 1.0 - frac[d]
                weight = w if weight is None else weight * w
            term = x[tuple(src)] if weight is None else x[tuple(src)] * weight
            total = term if total is None else total + term
        return total  # type: ignore[return-value]

    if x.dtype != "float32" and moving:
        raise NotImplementedError(f"resize: linear mode needs float32 input, '{x.name}' is {x.dtype}")
    return dsl.compute(tuple(int(s) for s in out_shape), linear, name="resize", tag="injective")
