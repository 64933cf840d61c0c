"""Measuring configs: `LocalBuilder` compiles and checks them in parallel worker processes, `LocalRunner`
times each in the worker that built it, one at a time; every failure (an invalid config, a compile error,
a crash, a hang, a wrong answer) becomes a `MeasureResult` with an error kind, never an exception out of
the tuner, and a dead or hung worker is replaced.

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
    worker: int = -1  # the worker holding the built, checked kernel, that worker's process generation,
    generation: int = 0  # and the id the kernel is kept under there
    request_id: int = 0


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


_ids = iter(range(1, 1 << 62))


def _prepare_request(inp: MeasureInput, check: bool, seed: int) -> dict[str, Any]:
    return {"op": "prepare", "id": next(_ids), "spec": inp.task.spec(), "config": inp.config.to_json(),
            "check": check, "seed": seed}


def _build_result(a: Answer, worker: Worker) -> BuildResult:
    if a.error == "TIMEOUT":
        return BuildResult(MeasureErrorKind.COMPILE_TIMEOUT, a.msg)
    if a.error == "CRASH":  # preparing runs the kernel once (the correctness check): a crash is a runtime error
        return BuildResult(MeasureErrorKind.RUNTIME_ERROR, a.msg)
    return BuildResult(MeasureErrorKind(a.error), a.msg, a.build_time)


class LocalBuilder:
    """Builds configs in `n_parallel` worker processes (`timeout` seconds each, the correctness check
    included). Each kernel stays in the worker that built it, where the runner times it: one compile per
    config, and compiles run in parallel while timings never overlap."""

    def __init__(self, n_parallel: int | None = None, timeout: float = 20.0):
        self.n_parallel = n_parallel or max(1, os.cpu_count() or 1)
        self.timeout = timeout
        self.workers: list[Worker] = []

    def build(self, inputs: list[MeasureInput], check: bool = True, seed: int = 0) -> list[BuildResult]:
        if not self.workers:
            self.workers = [Worker("runner") for _ in range(self.n_parallel)]
        out: list[BuildResult | None] = [None] * len(inputs)
        reqs = [_prepare_request(inp, check, seed) for inp in inputs]
        pending = list(range(len(inputs)))
        while pending:
            wave = list(zip(range(len(self.workers)), pending, strict=False))
            pending = pending[len(wave):]
            for w, i in wave:
                self.workers[w].submit(reqs[i])
            deadline = time.monotonic() + self.timeout
            for w, i in wave:
                worker = self.workers[w]
                a = worker.result(max(0.0, deadline - time.monotonic()) + 0.05)
                r = _build_result(a, worker)
                ok = r.error_kind is MeasureErrorKind.NO_ERROR
                out[i] = BuildResult(r.error_kind, r.error_msg, r.build_time, w, worker.generation, reqs[i]["id"]) \
                    if ok else r
        return [r for r in out if r is not None]

    def close(self) -> None:
        for w in self.workers:
            w.close()
        self.workers = []


class LocalRunner:
    """Times built configs one at a time, each in the worker process that built (and checked) it:
    `repeat` rounds of `number` calls (`number` grows until a round lasts `min_repeat_ms`). With
    `check_correctness`, every config is first compared with the task's reference (when it is built).
    With `cache_flush` (CPU targets) the kernel's buffers but the first are evicted from the caches before
    each call: a kernel of a model is tuned as the model runs it, with cold weights (see
    Module.time_evaluator)."""

    def __init__(self, number: int = 4, repeat: int = 3, min_repeat_ms: float = 0.0, timeout: float = 20.0,
                 check_correctness: bool = True, seed: int = 0, cache_flush: bool = False):
        self.number, self.repeat, self.min_repeat_ms = number, repeat, min_repeat_ms
        self.cache_flush = cache_flush
        self.timeout = timeout
        self.check_correctness = check_correctness
        self.seed = seed

    def run(self, inputs: list[MeasureInput], builds: list[BuildResult], builder: LocalBuilder,
            repeat: int | None = None) -> list[MeasureResult]:
        results: list[MeasureResult] = []
        for inp, b in zip(inputs, builds, strict=True):
            t0 = time.perf_counter()
            if b.error_kind is not MeasureErrorKind.NO_ERROR:
                results.append(MeasureResult((math.inf,), b.error_kind, b.error_msg, b.build_time))
                continue
            worker = builder.workers[b.worker]
            req_id = b.request_id
            if worker.generation != b.generation:
                # the worker was restarted after building this kernel (another config crashed it): rebuild
                req = _prepare_request(inp, self.check_correctness, self.seed)
                req_id = req["id"]
                worker.submit(req)
                rb = _build_result(worker.result(builder.timeout), worker)
                if rb.error_kind is not MeasureErrorKind.NO_ERROR:
                    results.append(MeasureResult((math.inf,), rb.error_kind, rb.error_msg, rb.build_time))
                    continue
            worker.submit({"op": "time", "id": req_id, "number": self.number, "repeat": repeat or self.repeat,
                           "min_repeat_ms": self.min_repeat_ms, "cache_flush": self.cache_flush})
            a = worker.result(self.timeout)
            results.append(_to_result(a, time.perf_counter() - t0 + b.build_time))
        return results


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
        builds = self.builder.build(inputs, self.runner.check_correctness, self.runner.seed)
        return self.runner.run(inputs, builds, self.builder, repeat=repeat)

    def close(self) -> None:
        self.builder.close()


def measure_option(builder: LocalBuilder | str | None = None, runner: LocalRunner | str | None = None
                   ) -> MeasureOption:
    """How to measure: `builder`/`runner` instances, or "local" (or None) for the defaults."""
    b = builder if isinstance(builder, LocalBuilder) else LocalBuilder()
    r = runner if isinstance(runner, LocalRunner) else LocalRunner()
    for name, v in (("builder", builder), ("runner", runner)):
        if v is not None and not isinstance(v, (LocalBuilder, LocalRunner)) and v != "local":
            raise ValueError(f"measure_option: {name} must be 'local' or a Local{name.title()}, got {v!r}")
    return MeasureOption(b, r)
