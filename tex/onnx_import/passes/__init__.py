"""Graph passes, each a pure function Graph -> Graph in its own file; `optimize` runs them in order."""

from __future__ import annotations

from collections.abc import Callable

from tex.onnx_import.graph import Graph
from tex.onnx_import.passes.cse import eliminate_common_subexpressions
from tex.onnx_import.passes.dce import eliminate_dead_code
from tex.onnx_import.passes.fold_batchnorm import fold_batchnorm
from tex.onnx_import.passes.fold_constants import fold_constants
from tex.onnx_import.passes.fold_scale import fold_scale_shift
from tex.onnx_import.passes.fuse import fuse_operators

PIPELINE: tuple[Callable[[Graph], Graph], ...] = (
    fold_constants, eliminate_dead_code, eliminate_common_subexpressions, fold_batchnorm, fold_scale_shift,
    eliminate_dead_code, fuse_operators,
)


def optimize(g: Graph, fuse: bool = True) -> Graph:
    """The standard pipeline: fold, DCE, CSE, BatchNorm and per-channel scale/shift into Conv, DCE, fusion."""
    for p in PIPELINE:
        if p is fuse_operators and not fuse:
            continue
        g = p(g)
    return g


__all__ = ["PIPELINE", "eliminate_common_subexpressions", "eliminate_dead_code", "fold_batchnorm", "fold_constants",
           "fold_scale_shift", "fuse_operators", "optimize"]
