"""Resize (opsets 10, 11, 13, 18, 19) and Upsample against onnxruntime: nearest and linear, every coordinate
transformation tex supports, scales and sizes, upsampling and downsampling, and the errors for what it does not."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from helpers import ort_run
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import tex
import tex.ops

R = np.random.default_rng(0)


def resize_model(shape: tuple[int, ...], scales: list[float] | None = None, sizes: list[int] | None = None,
                 opset: int = 19, **attrs: object) -> onnx.ModelProto:
    inits, names = [], ["x"]
    if opset == 10:
        inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
        names.append("scales")
    else:
        names += ["", "scales" if scales is not None else "", "sizes" if sizes is not None else ""]
        if scales is not None:
            inits.append(numpy_helper.from_array(np.array(scales, np.float32), "scales"))
        if sizes is not None:
            inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
        while names[-1] == "":
            names.pop()
    node = helper.make_node("Resize", names, ["y"], **attrs)
    g = helper.make_graph([node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(m: onnx.ModelProto, shape: tuple[int, ...]) -> None:
    x = R.standard_normal(shape).astype(np.float32)
    want = ort_run(m, {"x": x})[0]
    got = tex.compile(m).run({"x": x})["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


COORD = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"]


@pytest.mark.parametrize("coord", COORD)
@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 2], [1, 1, 0.5, 0.75], [1, 1, 1.7, 3.0]])
def test_scales(coord: str, mode: str, scales: list[float]) -> None:
    check(resize_model((1, 3, 8, 6), scales=scales, coordinate_transformation_mode=coord, mode=mode), (1, 3, 8, 6))


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
@pytest.mark.parametrize("sizes", [[2, 3, 13, 5], [2, 3, 4, 12], [2, 3, 1, 1]])
def test_sizes_nearest_modes(nearest_mode: str, sizes: list[int]) -> None:
    m = resize_model((2, 3, 7, 9), sizes=sizes, nearest_mode=nearest_mode, coordinate_transformation_mode="asymmetric")
    check(m, (2, 3, 7, 9))


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
def test_keep_aspect_ratio_and_axes(policy: str) -> None:
    check(resize_model((1, 2, 6, 9), sizes=[10, 12], axes=[2, 3], keep_aspect_ratio_policy=policy, mode="linear"),
          (1, 2, 6, 9))


@pytest.mark.parametrize("mode,scales", [("nearest", [1, 1, 2, 3]), ("nearest", [1, 1, 0.5, 0.5]),
                                         ("linear", [1, 1, 2, 2])])
def test_opset10(mode: str, scales: list[float]) -> None:
    check(resize_model((1, 2, 6, 8), scales=scales, opset=10, mode=mode), (1, 2, 6, 8))


def test_upsample9() -> None:
    node = helper.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")
    g = helper.make_graph([node], "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 4])],
                          [helper.make_empty_tensor_value_info("y")],
                          [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")])
    check(helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)]), (1, 2, 3, 4))


def test_trilinear_3d() -> None:
    check(resize_model((1, 1, 3, 4, 5), scales=[1, 1, 2, 1.5, 0.8], mode="linear"), (1, 1, 3, 4, 5))


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), oh=st.integers(1, 14), ow=st.integers(1, 14),
       mode=st.sampled_from(["nearest", "linear"]), coord=st.sampled_from(COORD[:4]))
def test_random_sizes(h: int, w: int, oh: int, ow: int, mode: str, coord: str) -> None:
    check(resize_model((1, 2, h, w), sizes=[1, 2, oh, ow], mode=mode, coordinate_transformation_mode=coord),
          (1, 2, h, w))


@pytest.mark.parametrize("attrs,match", [
    ({"mode": "cubic"}, "mode 'cubic' is not supported"),
    ({"coordinate_transformation_mode": "tf_crop_and_resize"}, "tf_crop_and_resize"),
    ({"mode": "linear", "antialias": 1}, "antialias"),
])
def test_unsupported_attributes(attrs: dict, match: str) -> None:
    m = resize_model((1, 1, 4, 4), scales=[1, 1, 0.5, 0.5], **attrs)
    with pytest.raises((NotImplementedError, tex.OnnxImportError), match=match):
        tex.compile(m)


def test_missing_scales_and_sizes() -> None:
    node = helper.make_node("Resize", ["x"], ["y"])
    g = helper.make_graph([node], "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                          [helper.make_empty_tensor_value_info("y")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    with pytest.raises((ValueError, tex.OnnxImportError), match="scales' or 'sizes"):
        tex.compile(m)


def test_resize_op_errors() -> None:
    x = tex.placeholder((1, 2, 4, 4), name="img")
    with pytest.raises(ValueError, match="'img' has 4 axes"):
        tex.ops.resize(x, [1, 2, 8], [1, 1, 2])
    with pytest.raises(ValueError, match="sizes must be >= 1 and scales > 0"):
        tex.ops.resize(x, [1, 2, 0, 4], [1, 1, 0, 1])
    with pytest.raises(ValueError, match="nearest_mode must be one of"):
        tex.ops.resize(x, [1, 2, 8, 8], [1, 1, 2, 2], nearest_mode="nearest")
