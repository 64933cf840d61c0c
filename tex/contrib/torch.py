"""A built tex kernel as a PyTorch custom operator (`torch.library`), called with torch tensors.

    op = to_torch_op(f)          # f = tex.build(s, [A, B, C]); C is what the kernel stores to
    c = op(a, b)                 # == torch.ops.tex.gemm(a, b): a fresh CPU tensor, contiguous

The operator's schema takes the kernel's parameters in order, minus the buffers the kernel writes (its
outputs), which it allocates and returns. Tensors travel to the kernel through DLPack without copies:
the kernel reads the inputs' memory and writes straight into the returned tensors. Non-contiguous
inputs are made contiguous first (one copy); CUDA tensors are refused. Shape and dtype errors are the
kernel's own: `gemm: argument 'B' (#2) must have shape (64, 32), got (32, 64)`.

Eager mode; a fake implementation (output shapes from input shapes) is registered too, so the
operator also traces. No autograd formula: the kernel has no derivative.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tex.ir.nodes import Buffer, Store
from tex.lang import dtypes
from tex.lang.expr import Expr, Var
from tex.lang.functor import collect
from tex.targets.runtime import Module, _dim, _evaluate
from tex.targets.target import TargetKind

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TORCH_DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool, "int8": torch.int8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
    "uint8": torch.uint8, "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
}


@dataclass(frozen=True)
class _Param:
    pos: int                          # 0-based position among the kernel's parameters
    name: str
    dtype: str
    shape: tuple[int | Expr, ...]     # as the runtime checks it: an int, a Var or an expression of Vars
    is_buffer: bool
    written: bool
    var: Var | None = None            # a scalar parameter's variable

    def where(self, op: str) -> str:
        return f"{op}: argument '{self.name}' (#{self.pos + 1})"

    def shape_text(self) -> str:
        dims = [d.name if isinstance(d, Var) else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def to_torch_op(f: Module, name: str | None = None) -> Callable[..., Any]:
    """Register the built kernel `f` as the PyTorch operator `torch.ops.<ns>.<name>` and return it.

    `name` is "op" (namespace "tex") or "ns::op"; default: the kernel's name. The operator takes the
    kernel's inputs (tensors, and ints/floats for scalar parameters) in parameter order and returns its
    outputs: one tensor, or a tuple of tensors when the kernel writes several buffers.
    """
    if not isinstance(f, Module):
        raise TypeError(f"to_torch_op: expected a kernel from tex.build or tex.load_module, got {type(f).__name__}")
    if f.target.kind is not TargetKind.LLVM:
        raise NotImplementedError(f"to_torch_op({f.name}): only CPU (llvm) kernels run as torch ops, "
                                  f"got target '{f.target}'")
    ns, op_name = _split_name(name or f.name)
    qualname = f"{ns}::{op_name}"
    params = _params(f)
    outputs = [p for p in params if p.written]
    shape_vars = {id(d) for p in params if p.is_buffer and not p.written for d in p.shape if isinstance(d, Var)}
    derived = [p for p in params if p.var is not None and id(p.var) in shape_vars]  # e.g. n of X[n]: from X
    inputs = [p for p in params if not p.written and p not in derived]
    if not outputs:
        raise ValueError(f"to_torch_op({f.name}): the kernel writes none of its buffers, so the op has no output")
    for p in outputs:  # each output's shape must follow from the inputs
        unbound = sorted({v.name for d in p.shape if isinstance(d, Expr)
                          for v in collect(d, lambda n: isinstance(n, Var))} - _bound_names(inputs))
        if unbound:
            raise ValueError(f"to_torch_op({f.name}): the shape {p.shape_text()} of output '{p.name}' uses "
                             f"{', '.join(unbound)}, which no input binds")
    if _registered(ns, op_name):
        raise ValueError(f"to_torch_op({f.name}): the torch operator {qualname} already exists; pass another name=")

    def impl(*args: Any) -> Any:
        call: list[Any] = [None] * len(params)
        for p, a in zip(inputs, args):
            call[p.pos] = _as_input(a, p, f.name) if p.is_buffer else a
        values = _bind(f.name, inputs, args)
        for p in derived:
            call[p.pos] = values[id(p.var)]
        results = []
        for p, shape in zip(outputs, _output_shapes(f.name, outputs, values)):
            out = torch.empty(shape, dtype=_TORCH_DTYPES[p.dtype])
            call[p.pos] = out  # the kernel writes into `out`'s memory through its DLPack view
            results.append(out)
        f(*call)
        return results[0] if len(results) == 1 else tuple(results)

    def fake(*args: Any) -> Any:  # shapes only: what tracing (torch.compile, meta tensors) needs
        first = next(a for a in args if isinstance(a, torch.Tensor))
        shapes = _output_shapes(f.name, outputs, _bind(f.name, inputs, args))
        results = [first.new_empty(shape, dtype=_TORCH_DTYPES[p.dtype]) for p, shape in zip(outputs, shapes)]
        return results[0] if len(results) == 1 else tuple(results)

    schema = _schema(inputs, outputs)
    if hasattr(torch.library, "custom_op"):
        op = torch.library.custom_op(qualname, impl, mutates_args=(), schema=schema)
        op.register_fake(fake)
    else:  # torch < 2.4: the low-level registration API; the Library must stay alive with the op
        lib = torch.library.Library(ns, "FRAGMENT")
        lib.define(f"{op_name}{schema}")
        lib.impl(op_name, impl, "CPU")
        _LIBRARIES.append(lib)
    return getattr(getattr(torch.ops, ns), op_name)


_LIBRARIES: list[Any] = []


def _split_name(name: str) -> tuple[str, str]:
    ns, _, op = name.rpartition("::")
    ns = ns or "tex"
    for part in (ns, op):
        if not _IDENT.match(part):
            raise ValueError(f"to_torch_op: name must be 'op' or 'namespace::op' with identifiers, got {name!r}")
    return ns, op


def _registered(ns: str, op: str) -> bool:
    try:
        getattr(getattr(torch.ops, ns), op)
    except (AttributeError, RuntimeError):
        return False
    return True


def _params(f: Module) -> list[_Param]:
    """The kernel's parameters; a buffer is an output when the kernel stores to it (as the runtime decides)."""
    written = {id(s.buffer) for s in collect(f.func.body, lambda n: isinstance(n, Store))}
    out = []
    for pos, p in enumerate(f.func.params):
        if isinstance(p, Buffer):
            out.append(_Param(pos, p.name, p.dtype, tuple(_dim(d) for d in p.shape), True, id(p) in written))
        else:
            out.append(_Param(pos, p.name, p.dtype, (), False, False, var=p))
    for p in out:
        if p.is_buffer and p.dtype not in _TORCH_DTYPES:
            raise NotImplementedError(f"to_torch_op({f.name}): buffer '{p.name}' has dtype {p.dtype}, "
                                      f"which has no torch dtype here")
    return out


def _bound_names(inputs: list[_Param]) -> set[str]:
    names = {p.var.name for p in inputs if p.var is not None}
    return names | {d.name for p in inputs for d in p.shape if isinstance(d, Var)}


def _schema(inputs: list[_Param], outputs: list[_Param]) -> str:
    def kind(p: _Param) -> str:
        if p.is_buffer:
            return "Tensor"
        return "float" if dtypes.is_float(p.dtype) else "int"

    args = ", ".join(f"{kind(p)} {p.name}" for p in inputs)
    rets = "Tensor" if len(outputs) == 1 else "(" + ", ".join("Tensor" for _ in outputs) + ")"
    return f"({args}) -> {rets}"


def _bind(op: str, inputs: list[_Param], args: tuple[Any, ...]) -> dict[int, Any]:
    """The value of every variable the inputs bind: scalar arguments and dimensions (first binding wins;
    an inconsistent one is reported by the kernel's own checks)."""
    values: dict[int, Any] = {}
    for p, a in zip(inputs, args):
        if p.var is not None:
            values[id(p.var)] = a
            continue
        got = tuple(a.shape)
        if len(got) != len(p.shape):
            raise ValueError(f"{p.where(op)} must have shape {p.shape_text()} ({len(p.shape)} dimensions), got {got}")
        for d, n in zip(p.shape, got):
            if isinstance(d, Var):
                values.setdefault(id(d), n)
    return values


def _output_shapes(op: str, outputs: list[_Param], values: dict[int, Any]) -> list[tuple[Any, ...]]:
    return [tuple(d if isinstance(d, int) else _evaluate(d, values, f"{p.where(op)}: shape {p.shape_text()}")
                  for d in p.shape) for p in outputs]


def _as_input(t: Any, p: _Param, op: str) -> Any:
    """A tensor as the kernel reads it: on the CPU, contiguous, detached (DLPack refuses grad-requiring tensors)."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{p.where(op)} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{p.where(op)} is on {t.device}; tex kernels run on the CPU: pass tensor.cpu()")
    return t.detach().contiguous()

