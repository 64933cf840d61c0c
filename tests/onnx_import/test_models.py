"""The nine light CNNs shipped with onnx: shipped outputs (constant weights) and random weights vs onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import LIGHT, ort_run, randomize_light
from onnx import numpy_helper

import tex

FAST = ["squeezenet"]
SLOW = ["resnet50", "bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "shufflenet", "vgg19", "zfnet512"]


def _check_random(name: str) -> None:
    m = randomize_light(f"{LIGHT}/light_{name}.onnx")
    exe = tex.compile(m)
    inp = exe.plan.inputs[0]
    x = np.random.default_rng(1).standard_normal(inp.shape).astype(np.float32)
    got = exe.run({inp.name: x})[exe.output_names[0]]
    want = ort_run(m, {inp.name: x})[0]
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * scale)


def _check_shipped(name: str) -> None:
    path = f"{LIGHT}/light_{name}.onnx"
    want = numpy_helper.to_array(onnx.load_tensor(f"{LIGHT}/light_{name}_output_0.pb"))
    exe = tex.compile(path)
    inp = exe.plan.inputs[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    ref = ort_run(onnx.load(path), {inp.name: x})[0]
    got = exe.run({inp.name: x})[exe.output_names[0]]
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-4)
    assert got.shape == want.shape


@pytest.mark.parametrize("name", FAST)
def test_light_random_weights(name: str) -> None:
    _check_random(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_light_random_weights_slow(name: str) -> None:
    _check_random(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", FAST + SLOW)
def test_light_shipped(name: str) -> None:
    _check_shipped(name)
