"""Each ONNX op lowered by tex against onnxruntime on random inputs (one small model per case)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ort_run, single_op_model

import tex

R = np.random.default_rng(0)


def _w(*shape: int) -> np.ndarray:
    return R.standard_normal(shape).astype(np.float32)


CASES = [
    ("Relu", [(2, 33)], {}, {}), ("Sigmoid", [(4, 17)], {}, {}), ("Tanh", [(3, 5)], {}, {}),
    ("Exp", [(3, 5)], {}, {}), ("Erf", [(3, 5)], {}, {}), ("Neg", [(7,)], {}, {}), ("Abs", [(7,)], {}, {}),
    ("LeakyRelu", [(2, 9)], {}, {"alpha": 0.2}), ("HardSigmoid", [(2, 9)], {}, {}), ("HardSwish", [(2, 9)], {}, {}),
    ("Elu", [(2, 9)], {}, {}), ("Softplus", [(2, 9)], {}, {}),
    ("Add", [(2, 3, 4), (3, 1)], {}, {}), ("Sub", [(2, 3), (2, 3)], {}, {}), ("Mul", [(2, 3), (1,)], {}, {}),
    ("Div", [(2, 3), (2, 3)], {}, {}), ("Max", [(2, 3), (2, 3), (3,)], {}, {}), ("Min", [(2, 3), (3,)], {}, {}),
    ("Sum", [(2, 3), (2, 3), (2, 3)], {}, {}),
    ("Conv", [(1, 8, 9, 9)], {"w": _w(16, 8, 3, 3), "b": _w(16)}, {"pads": [1, 1, 1, 1]}),
    ("Conv", [(1, 3, 10, 10)], {"w": _w(5, 3, 3, 3)}, {"strides": [2, 2], "dilations": [2, 1]}),
    ("Conv", [(1, 8, 9, 9)], {"w": _w(8, 1, 3, 3)}, {"group": 8, "auto_pad": "SAME_UPPER"}),
    ("Conv", [(1, 8, 9, 9)], {"w": _w(4, 4, 1, 1)}, {"group": 2}),
    ("ConvTranspose", [(1, 4, 5, 5)], {"w": _w(4, 3, 3, 3)}, {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", [(1, 3, 9, 9)], {}, {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ("AveragePool", [(1, 3, 9, 9)], {}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("AveragePool", [(1, 3, 9, 9)], {}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("GlobalAveragePool", [(1, 5, 4, 4)], {}, {}), ("GlobalMaxPool", [(1, 5, 4, 4)], {}, {}),
    ("BatchNormalization", [(1, 4, 3, 3)], {"s": _w(4), "b": _w(4), "m": _w(4), "v": np.abs(_w(4)) + 0.5}, {}),
    ("LRN", [(1, 6, 4, 4)], {}, {"size": 3, "alpha": 0.001, "beta": 0.75, "bias": 1.0}),
    ("Gemm", [(3, 20)], {"w": _w(7, 20), "c": _w(7)}, {"transB": 1}),
    ("Gemm", [(3, 20)], {"w": _w(20, 40), "c": _w(40)}, {"alpha": 0.5, "beta": 2.0}),
    ("MatMul", [(2, 3, 8), (2, 8, 5)], {}, {}), ("MatMul", [(3, 8)], {"w": _w(8, 6)}, {}),
    ("Softmax", [(2, 10)], {}, {"axis": -1}), ("LogSoftmax", [(2, 10)], {}, {}),
    ("LayerNormalization", [(2, 3, 8)], {"g": _w(8), "b": _w(8)}, {}),
    ("Reshape", [(2, 6)], {"shape": np.array([3, -1], np.int64)}, {}),
    ("Flatten", [(2, 3, 4)], {}, {"axis": 2}), ("Transpose", [(2, 3, 4)], {}, {"perm": [2, 0, 1]}),
    ("Concat", [(2, 3), (2, 5)], {}, {"axis": 1}),
    ("Unsqueeze", [(2, 3)], {"axes": np.array([0, 3], np.int64)}, {}),
    ("Squeeze", [(2, 1, 3)], {"axes": np.array([1], np.int64)}, {}),
    ("Slice", [(6, 8)], {"st": np.array([1, -1], np.int64), "en": np.array([5, 0], np.int64),
                         "ax": np.array([0, 1], np.int64), "sp": np.array([2, -2], np.int64)}, {}),
    ("Pad", [(2, 3)], {"p": np.array([1, 0, 0, 2], np.int64)}, {}),
    ("Expand", [(3, 1)], {"s": np.array([2, 3, 4], np.int64)}, {}),
    ("ReduceMean", [(2, 3, 4)], {"a": np.array([1], np.int64)}, {"keepdims": 0}),
    ("ReduceSum", [(2, 3, 4)], {"a": np.array([0, 2], np.int64)}, {}), ("ReduceMax", [(2, 3, 4)], {}, {}),
    ("Clip", [(3, 4)], {"lo": np.array(-0.5, np.float32), "hi": np.array(0.5, np.float32)}, {}),
    ("Sqrt", [(3, 4)], {}, {}), ("Gelu", [(3, 4)], {}, {}),
]


@pytest.mark.parametrize("op,shapes,inits,attrs", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_op_matches_onnxruntime(op: str, shapes: list, inits: dict, attrs: dict) -> None:
    opset = 20 if op == "Gelu" else 18
    m = single_op_model(op, shapes, opset=opset, inits=inits, **attrs)
    feeds = {f"x{i}": (np.abs(_w(*s)) + 0.1 if op == "Sqrt" else _w(*s)) for i, s in enumerate(shapes)}
    got = tex.compile(m).run(feeds)["y0"]
    want = ort_run(m, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
