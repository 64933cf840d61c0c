"""A tuning task: one template, its arguments and a target; knows its space, FLOPs, inputs and reference."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tex.errors import TuneError
from tex.lang import dtypes
from tex.lang.expr import Add, BinaryOp, Call, Cast, Const, Div, Expr, Max, Min, Mul, Sub
from tex.lang.tensor import ComputeOp, PlaceholderOp, Reduce, Tensor, TensorLoad
from tex.schedule import Schedule, create_schedule
from tex.targets.target import Target, as_target
from tex.tune.space import Config, ConfigSpace
from tex.tune.template import Template, lookup, normalize_args

_ARITH = (Add, Sub, Mul, Div, Max, Min)


def _ops(e: Expr) -> int:
    """Arithmetic operations on values (not indices) in one evaluation of `e`."""
    if isinstance(e, TensorLoad) or isinstance(e, Const):
        return 0
    n = 0
    if isinstance(e, _ARITH) and e.dtype != dtypes.INDEX:
        n = 1
    elif isinstance(e, Call):
        n = 1
    if isinstance(e, BinaryOp):
        return n + _ops(e.a) + _ops(e.b)
    if isinstance(e, Cast):
        return _ops(e.value)
    if isinstance(e, Call):
        return n + sum(_ops(a) for a in e.args)
    return n


def count_flop(outputs: list[Tensor]) -> float:
    """FLOPs of computing `outputs`: per element of every stage, its arithmetic; a reduction step is its
    source's operations plus one for the combine (a multiply-add counts 2)."""
    seen: set[int] = set()
    total = 0.0

    def visit(t: Tensor) -> None:
        nonlocal total
        op = t.op
        if id(op) in seen or isinstance(op, PlaceholderOp):
            return
        seen.add(id(op))
        if not isinstance(op, ComputeOp):
            return
        points = math.prod(int(iv.dom.extent.value) for iv in op.axis)  # type: ignore[union-attr]
        body = op.body
        if isinstance(body, Reduce):
            steps = math.prod(int(iv.dom.extent.value) for iv in body.axis)  # type: ignore[union-attr]
            total += points * steps * (_ops(body.source) + 1)
        else:
            total += points * _ops(body)
        for inp in op.input_tensors():
            visit(inp)

    for t in outputs:
        visit(t)
    return total


@dataclass
class Task:
    """`template(*args)` tuned for `target`."""

    template: Template
    args: tuple[Any, ...]
    target: Target
    _flop: float | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.template.name

    @property
    def config_space(self) -> ConfigSpace:
        return self.template.space(self.args)

    def instantiate(self, config: Config | None = None) -> tuple[Schedule, list[Tensor]]:
        return self.template.instantiate(self.args, config)

    def try_instantiate(self, config: Config) -> tuple[tuple[Schedule, list[Tensor]] | None, str]:
        """(the schedule and args of `config`, "") or (None, why the template refused it): an invalid config
        (a factor larger than an extent, a tile larger than the register file, a schedule error, ...)."""
        try:
            return self.instantiate(config), ""
        except Exception as e:  # whatever the template raises for this config makes it invalid
            return None, f"{type(e).__name__}: {e}"

    @property
    def flop(self) -> float:
        if self._flop is None:
            if self.template.flop is not None:
                self._flop = float(self.template.flop(*self.args))
            else:
                _, tensors = self.instantiate()
                self._flop = count_flop([t for t in tensors if isinstance(t.op, ComputeOp)])
        return self._flop

    def signature(self, config: Config | None = None) -> tuple[list[tuple[str, tuple[int, ...], str]], list[int]]:
        """(name, shape, dtype) of each kernel argument, and the positions of the outputs.

        Usually the same for every config; a template whose layout is a knob (prepacked weights) varies it."""
        _, tensors = self.instantiate(config)
        sig, outs = [], []
        for pos, t in enumerate(tensors):
            if not isinstance(t, Tensor) or not all(isinstance(d, int) for d in t.shape):
                raise TuneError(f"task {self}: kernel arguments must be tensors of static shape, got {t!r}")
            sig.append((t.name, tuple(t.shape), t.dtype))  # type: ignore[arg-type]
            if isinstance(t.op, ComputeOp):
                outs.append(pos)
        return sig, outs

    def make_inputs(self, seed: int = 0, config: Config | None = None) -> list[np.ndarray]:
        """Random arrays for every argument (inputs drawn, outputs zero), reproducible from `seed`."""
        rng = np.random.default_rng(seed)
        sig, outs = self.signature(config)
        arrays = []
        for pos, (_, shape, dtype) in enumerate(sig):
            if pos in outs:
                arrays.append(np.zeros(shape, dtype=dtype))
            elif dtypes.is_float(dtype):
                arrays.append(rng.uniform(-1, 1, shape).astype(dtype))
            elif dtype == "bool":
                arrays.append(rng.integers(0, 2, shape).astype(bool))
            else:
                lo, hi = (-8, 8) if not dtype.startswith("uint") else (0, 16)
                arrays.append(rng.integers(lo, hi, shape).astype(dtype))
        return arrays

    def reference(self, arrays: list[np.ndarray], config: Config | None = None) -> list[np.ndarray]:
        """The expected outputs for `arrays`: the template's numpy reference, else the computation built with
        tex's default (unscheduled) schedule."""
        sig, outs = self.signature(config)
        inputs = [a for pos, a in enumerate(arrays) if pos not in outs]
        if self.template.reference is not None:
            got = self.template.reference(*self.args)(*inputs)
            got = list(got) if isinstance(got, (list, tuple)) else [got]
            return [np.asarray(g, dtype=sig[p][2]) for g, p in zip(got, outs, strict=True)]
        from tex.driver import build

        _, tensors = self.instantiate(config)
        plain = create_schedule([tensors[p] for p in outs])
        f = build(plain, tensors, target="llvm", name=f"{self.name}_reference")
        work = [a.copy() for a in arrays]
        f(*work)
        return [work[p] for p in outs]

    def spec(self) -> dict[str, Any]:
        """What a worker process needs to rebuild this task: the template's module or file, args, target."""
        return {"template": self.name, "module": self.template.module, "file": self.template.source_file,
                "args": self.args, "target": str(self.target)}

    def __str__(self) -> str:
        return f"{self.name}{self.args} on {self.target}"


def create_task(name: str, args: Any, target: str | Target = "llvm") -> Task:
    """The task of tuning template `name` for `args` on `target`."""
    return Task(lookup(name), normalize_args(args), as_target(target))
