"""Shared helpers: small ONNX models built with onnx.helper, compared with onnxruntime."""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def single_op_model(op: str, in_shapes: list[tuple[int, ...]], out_count: int = 1, opset: int = 17,
                    inits: dict[str, np.ndarray] | None = None, **attrs: object) -> onnx.ModelProto:
    inits = inits or {}
    names = [f"x{i}" for i in range(len(in_shapes))] + list(inits)
    node = helper.make_node(op, names, [f"y{i}" for i in range(out_count)], **attrs)
    ins = [helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, s) for i, s in enumerate(in_shapes)]
    outs = [helper.make_empty_tensor_value_info(f"y{i}") for i in range(out_count)]
    graph = helper.make_graph([node], "t", ins, outs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def ort_run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def randomize_light(path: str, seed: int = 0) -> onnx.ModelProto:
    """A light model whose constant 0.02 weights (ConstantOfShape outputs) become random (BN variances positive)."""
    m = onnx.load(path)
    rng = np.random.default_rng(seed)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    keep, new_inits = [], []
    for n in m.graph.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in inits:
            shape = tuple(int(d) for d in inits[n.input[0]])
            if len(shape) >= 2:
                v = rng.standard_normal(shape) * np.sqrt(2.0 / max(1, int(np.prod(shape[1:]))))
            else:
                v = rng.uniform(0.5, 1.5, shape)
            new_inits.append(numpy_helper.from_array(v.astype(np.float32), n.output[0]))
        else:
            keep.append(n)
    if keep[-1].op_type == "Softmax":  # random logits saturate softmax: compare the logits instead
        last = keep.pop()
        out = helper.make_empty_tensor_value_info(last.input[0])
        del m.graph.output[:]
        m.graph.output.extend([out])
    del m.graph.node[:]
    m.graph.node.extend(keep)
    m.graph.initializer.extend(new_inits)
    return m


class Net:
    """A small ONNX graph built node by node with random weights."""

    def __init__(self, shape: tuple[int, ...], seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shape = shape
        self.k = 0

    def _name(self, p: str) -> str:
        self.k += 1
        return f"{p}{self.k}"

    def const(self, arr: np.ndarray) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def op(self, op: str, *ins: str, **attrs: object) -> str:
        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, list(ins), [out], name=out, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int = 3, pad: int = 1, stride: int = 1) -> str:
        w = self.const(self.rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k))
        b = self.const(self.rng.standard_normal(cout) * 0.1)
        return self.op("Conv", x, w, b, pads=[pad] * 4, strides=[stride] * 2, kernel_shape=[k, k])

    def model(self, *outputs: str) -> onnx.ModelProto:
        g = helper.make_graph(self.nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
                              [helper.make_empty_tensor_value_info(o) for o in outputs], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
