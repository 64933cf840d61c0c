"""Concat inputs computed in place in their slice of the concat's buffer (executor.concat_slots)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import Net, ort_run

import tex
from tex.onnx_import import load
from tex.onnx_import.executor import concat_slots
from tex.onnx_import.passes import optimize
from tex.targets.export import find_compiler


def _check(m: object, **kw: object) -> tex.onnx_import.Executor:
    exe = tex.compile(m, **kw)
    x = np.random.default_rng(1).standard_normal(exe.plan.inputs[0].shape).astype(np.float32)
    want = ort_run(m, {"x": x})
    got = exe.run({"x": x})
    for name, w in zip(got, want):
        np.testing.assert_allclose(got[name], w, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(w).max())))
    return exe


def _dense_block(layers: int = 3, growth: int = 16) -> object:
    """DenseNet-style: each layer reads the running concat and the next concat appends its output (channel
    counts in 16s, so that every value has the same channel block, as in DenseNet-121)."""
    n = Net((1, 8, 6, 6))
    feats, c = n.op("Relu", n.conv("x", 8, 16)), 16
    for _ in range(layers):
        new = n.conv(n.op("Relu", feats), c, growth)
        feats, c = n.op("Concat", feats, new, axis=1), c + growth
    return n.model(n.conv(feats, c, 8))


@pytest.mark.parametrize("blocked", [True, False])
def test_nested_concats_cost_no_kernel(blocked: bool) -> None:
    m = _dense_block()
    exe = _check(m, blocked_layout=blocked)
    assert not any("concat" in k.name for k in exe.plan.kernels)
    views = [b for b in exe.plan.buffers if b.view_of is not None]
    assert len({b.offset for b in views}) > 2  # slices at several offsets of one storage
    roots = {b.view_of for b in views}
    assert len(roots) == 1  # the three nested concats live in the last one's buffer


def test_slots_refuse_what_cannot_be_in_place() -> None:
    n = Net((1, 4, 5, 5))
    a = n.conv("x", 4, 8)
    twice = n.op("Concat", a, a, axis=1)           # the same value twice
    from_input = n.op("Concat", "x", n.conv("x", 4, 4), axis=1)  # a graph input
    spatial = n.op("Concat", n.conv("x", 4, 4), n.conv("x", 4, 4), axis=2)  # not contiguous slices
    out_a = n.conv("x", 4, 4)
    with_output = n.op("Concat", out_a, n.conv("x", 4, 4), axis=1)
    m = n.model(n.op("Relu", twice), n.op("Relu", from_input), n.op("Relu", spatial), n.op("Relu", with_output),
                out_a)
    slots = concat_slots(optimize(load(m)))
    assert slots == {}
    _check(m)


@pytest.mark.skipif(find_compiler() is None, reason="no C compiler to link the exported library")
def test_exported_model_with_in_place_concats(tmp_path: object) -> None:
    m = _dense_block(2)
    exe = _check(m)
    lib = tex.load_module(exe.export_library(f"{tmp_path}/dense.so", name="dense"))
    x = np.random.default_rng(3).standard_normal((1, 8, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(lib(x)[0], ort_run(m, {"x": x})[0], rtol=1e-4, atol=1e-4)  # type: ignore[operator]
