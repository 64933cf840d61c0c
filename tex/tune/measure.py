"""Measuring configs: `LocalBuilder` compiles them in parallel worker processes, `LocalRunner` times them
in an isolated worker process; every failure becomes a `MeasureResult` with an error kind, never an
exception out of the tuner.

Correctness: every config the runner times is first run once with its outputs filled with NaN and compared
with the task's reference (the template's numpy reference, else the default-schedule build), so a kernel
that computes a wrong answer or leaves elements unwritten is recorded as WRONG_ANSWER.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from tex.tune.worker import Answer, Worker

if TYPE_CHECKING:
    from tex.tune.space import Config
    from tex.tune.task import Task


class MeasureErrorKind(Enum):
    NO_ERROR = "NO_ERROR"
    INSTANTIATION_ERROR = "INSTANTIATION_ERROR"  # the config is invalid for this template (ScheduleError, ...)
    COMPILE_ERROR = "COMPILE_ERROR"
    COMPILE_TIMEOUT = "COMPILE_TIMEOUT"
    RUNTIME_ERROR = "RUNTIME_ERROR"  # the kernel (or its worker) crashed
    RUN_TIMEOUT = "RUN_TIMEOUT"
    WRONG_ANSWER = "WRONG_ANSWER"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"


@dataclass(frozen=True)
class MeasureInput:
    task: Task
    config: Config


@dataclass(frozen=True)
class BuildResult:
    error_kind: MeasureErrorKind
    error_msg: str = ""
    build_time: float = 0.0


@dataclass(frozen=True)
class MeasureResult:
    """Seconds per call of each repeat (`costs`), or an error and `costs == (inf,)`."""

    costs: tuple[float, ...]
    error_kind: MeasureErrorKind
    error_msg: str = ""
    all_cost: float = 0.0  # wall time spent on this measurement, build included
    timestamp: float = field(default_factory=time.time)

    @property
    def cost(self) -> float:
        if self.error_kind is not MeasureErrorKind.NO_ERROR or not self.costs:
            return math.inf
        s = sorted(self.costs)
        return s[len(s) // 2]

    @property
    def ok(self) -> bool:
        return self.error_kind is MeasureErrorKind.NO_ERROR


def _request(op: str, inp: MeasureInput, **extra: Any) -> dict[str, Any]:
    return {"op": op, "spec": inp.task.spec(), "config": inp.config.to_json(), **extra}


class _Pool:
    """Persistent workers; `map` sends one request per worker at a time and collects answers in order."""

    def __init__(self, role: str, size: int):
        self.workers = [Worker(role) for _ in range(max(1, size))]

    def map(self, requests: list[dict[str, Any]], timeout: float) -> list[Answer]:
        answers: list[Answer | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        while pending:
            wave = list(zip(self.workers, pending, strict=False))
            pending = pending[len(wave):]
            for w, i in wave:
                w.submit(requests[i])
            deadline = time.monotonic() + timeout
            for w, i in wave:
                answers[i] = w.result(max(0.0, deadline - time.monotonic()) + 0.05)
        return [a for a in answers if a is not None]

    def close(self) -> None:
        for w in self.workers:
            w.close()


class LocalBuilder:
    """Instantiates and compiles configs in `n_parallel` worker processes, `timeout` seconds each."""

    def __init__(self, n_parallel: int | None = None, timeout: float = 20.0):
        self.n_parallel = n_parallel or max(1, os.cpu_count() or 1)
        self.timeout = timeout
        self._pool: _Pool | None = None

    def build(self, inputs: list[MeasureInput]) -> list[BuildResult]:
        if self._pool is None:
            self._pool = _Pool("builder", self.n_parallel)
        answers = self._pool.map([_request("build", i) for i in inputs], self.timeout)
        out = []
        for a in answers:
            if a.error == "TIMEOUT":
                out.append(BuildResult(MeasureErrorKind.COMPILE_TIMEOUT, a.msg))
            elif a.error == "CRASH":
                out.append(BuildResult(MeasureErrorKind.COMPILE_ERROR, a.msg))
            else:
                out.append(BuildResult(MeasureErrorKind(a.error), a.msg, a.build_time))
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class LocalRunner:
    """Times built configs in one isolated worker process: `repeat` rounds of `number` calls each
    (`number` grows until a round lasts `min_repeat_ms`); each config is checked against the reference
    first when `check_correctness`."""

    def __init__(self, number: int = 4, repeat: int = 3, min_repeat_ms: float = 0.0, timeout: float = 20.0,
                 check_correctness: bool = True, seed: int = 0):
        self.number, self.repeat, self.min_repeat_ms = number, repeat, min_repeat_ms
        self.timeout = timeout
        self.check_correctness = check_correctness
        self.seed = seed
        self._pool: _Pool | None = None

    def run(self, inputs: list[MeasureInput], builds: list[BuildResult], repeat: int | None = None
            ) -> list[MeasureResult]:
        if self._pool is None:
            self._pool = _Pool("runner", 1)  # one at a time: concurrent runs would disturb each other's timing
        results: list[MeasureResult | None] = [None] * len(inputs)
        todo = []
        for i, b in enumerate(builds):
            if b.error_kind is not MeasureErrorKind.NO_ERROR:
                results[i] = MeasureResult((math.inf,), b.error_kind, b.error_msg, b.build_time)
            else:
                todo.append(i)
        for i in todo:
            t0 = time.perf_counter()
            req = _request("run", inputs[i], number=self.number, repeat=repeat or self.repeat,
                           min_repeat_ms=self.min_repeat_ms, check=self.check_correctness, seed=self.seed)
            a = self._pool.map([req], self.timeout)[0]
            spent = time.perf_counter() - t0 + builds[i].build_time
            results[i] = _to_result(a, spent)
        return [r for r in results if r is not None]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


def _to_result(a: Answer, spent: float) -> MeasureResult:
    if a.error == "TIMEOUT":
        return MeasureResult((math.inf,), MeasureErrorKind.RUN_TIMEOUT, a.msg, spent)
    if a.error == "CRASH":
        return MeasureResult((math.inf,), MeasureErrorKind.RUNTIME_ERROR, a.msg, spent)
    kind = MeasureErrorKind(a.error)
    if kind is not MeasureErrorKind.NO_ERROR:
        return MeasureResult((math.inf,), kind, a.msg, spent)
    return MeasureResult(a.costs, kind, "", spent)


@dataclass
class MeasureOption:
    builder: LocalBuilder
    runner: LocalRunner

    def measure(self, inputs: list[MeasureInput], repeat: int | None = None) -> list[MeasureResult]:
        return self.runner.run(inputs, self.builder.build(inputs), repeat=repeat)

    def close(self) -> None:
        self.builder.close()
        self.runner.close()


def measure_option(builder: LocalBuilder | str | None = None, runner: LocalRunner | str | None = None
                   ) -> MeasureOption:
    """How to measure: `builder`/`runner` instances, or "local" (or None) for the defaults."""
    b = builder if isinstance(builder, LocalBuilder) else LocalBuilder()
    r = runner if isinstance(runner, LocalRunner) else LocalRunner()
    for name, v in (("builder", builder), ("runner", runner)):
        if v is not None and not isinstance(v, (LocalBuilder, LocalRunner)) and v != "local":
            raise ValueError(f"measure_option: {name} must be 'local' or a Local{name.title()}, got {v!r}")
    return MeasureOption(b, r)
