"""`onnx.backend.base.Backend` over tex, so ONNX's own backend test suite (BackendTest) runs against tex."""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx.backend.base import Backend, BackendRep

from tex.errors import OnnxImportError
from tex.onnx_import import ops
from tex.onnx_import.executor import Executor, compile_model


def _static_names(model: Any) -> set[str]:
    """Graph inputs that some node needs as a compile-time constant (Resize's float scales, ...)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 21)
    names: set[str] = set()
    for n in model.graph.node:
        fn = ops.lookup(n.op_type, opset)
        names.update(n.input[k] for k in ops.STATIC_INPUTS.get(fn, ()) if k < len(n.input))  # type: ignore[arg-type]
    return names


def _bind_static_inputs(model: Any, feeds: dict[str, np.ndarray]) -> tuple[Any, dict[str, np.ndarray]]:
    """tex compiles static shapes: integer inputs (shapes, axes, pads) and the inputs nodes need as constants
    become initializers of a model copy."""
    from onnx import numpy_helper
    static = _static_names(model)
    ints = {k: v for k, v in feeds.items() if np.asarray(v).dtype.kind in "iu" or k in static}
    if not ints:
        return model, feeds
    m = type(model)()
    m.CopyFrom(model)
    keep = [vi for vi in m.graph.input if vi.name not in ints]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    m.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in ints.items())
    return m, {k: v for k, v in feeds.items() if k not in ints}


class TexRep(BackendRep):
    """A model compiled on its first run (integer inputs fixed then); run(inputs): a list or a dict."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.exe: Executor | None = None
        self.names = [vi.name for vi in model.graph.input
                      if vi.name not in {i.name for i in model.graph.initializer}]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            items = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feeds = dict(zip(self.names, items))
        model, feeds = _bind_static_inputs(self.model, feeds)
        exe = compile_model(model, target="llvm")
        self.exe = exe
        out = exe.run(feeds)
        return tuple(out[n] for n in exe.output_names)


class TexBackend(Backend):
    @classmethod
    def is_compatible(cls, model: Any, device: str = "CPU", **kwargs: Any) -> bool:
        from tex.onnx_import.importer import load
        try:
            load(model)
        except (OnnxImportError, NotImplementedError):
            return False
        return True

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> TexRep:
        super().prepare(model, device, **kwargs)
        return TexRep(model)

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"


prepare = TexBackend.prepare
run_model = TexBackend.run_model
supports_device = TexBackend.supports_device
is_compatible = TexBackend.is_compatible
