"""Worker processes for measurement: a persistent child that builds or runs configs on request.

A worker is a fresh Python process (`python -c ...`, never fork: libgomp's threads do not survive it, and
unlike multiprocessing's "spawn" it does not re-import the user's main script) serving length-prefixed
pickled requests on its stdin/stdout until told to stop; its own prints go to stderr. The parent waits
for each answer with a timeout; a worker that hangs is killed and one that dies (a crash in native code)
is noticed by the closed pipe. Either way the parent
records an error and starts a fresh worker, and tuning goes on.

Requests are plain data: the task's spec (template name, its module or file, args, target), a config as
JSON and the measurement options. A config is compiled once, in the worker that will time it (kernels are
JIT-compiled in the process that calls them): "prepare" builds and checks it, in parallel across workers,
and "time" later times it there, one worker at a time.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from tex.errors import TuneError


def _load_template_module(spec: dict[str, Any]) -> None:
    from tex.tune.template import registered

    if spec["template"] in registered():
        return
    module = spec.get("module")
    if module and module != "__main__":
        try:
            importlib.import_module(module)
            if spec["template"] in registered():
                return
        except ImportError:
            pass
    path = spec["file"]
    name = "tex_tune_user_" + hashlib.sha1(path.encode()).hexdigest()[:10]
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise TuneError(f"cannot load template '{spec['template']}' from {path}")
    mod = importlib.util.module_from_spec(loader_spec)
    sys.modules[name] = mod
    loader_spec.loader.exec_module(mod)


class _State:
    """What a worker keeps between requests: tasks, built kernels, inputs and references."""

    def __init__(self) -> None:
        self.tasks: dict[str, Any] = {}
        self.data: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[int]]] = {}  # per signature
        self.prepared: dict[int, tuple[Any, list[np.ndarray]]] = {}  # built and checked, waiting to be timed

    def task(self, spec: dict[str, Any]) -> Any:
        from tex.tune.task import create_task

        key = repr((spec["template"], spec["args"], spec["target"]))
        t = self.tasks.get(key)
        if t is None:
            _load_template_module(spec)
            t = self.tasks[key] = create_task(spec["template"], spec["args"], spec["target"])
        return t

    def inputs(self, spec: dict[str, Any], seed: int, config: Any
               ) -> tuple[list[np.ndarray], list[np.ndarray], list[int], list[str]]:
        """Inputs, reference outputs, output positions and argument names; cached per argument signature."""
        t = self.task(spec)
        sig, outs = t.signature(config)
        key = repr((spec["template"], spec["args"], spec["target"], seed, sig))
        got = self.data.get(key)
        if got is None:
            arrays = t.make_inputs(seed, config)
            got = self.data[key] = (arrays, t.reference(arrays, config), outs)
        return (*got, [name for name, _, _ in sig])


def _build(state: _State, req: dict[str, Any]) -> Any:
    from tex.driver import build

    t = state.task(req["spec"])
    config = t.config_space.from_json(req["config"])
    built, why = t.try_instantiate(config)
    if built is None:
        return None, ("INSTANTIATION_ERROR", why)
    s, args = built
    try:
        t0 = time.perf_counter()
        f = build(s, args, target=str(t.target), name=t.name.replace(".", "_"))
        return f, time.perf_counter() - t0
    except Exception as e:
        return None, ("COMPILE_ERROR", f"{type(e).__name__}: {e}")


def _serve(req: dict[str, Any], state: _State) -> dict[str, Any]:
    """"prepare": build, make inputs, run once with NaN-filled outputs and check against the reference,
    and keep the kernel; "time": time the kernel kept under the same id (then forget it)."""
    if req["op"] == "time":
        f, work = state.prepared.pop(req["id"])
        timer = f.time_evaluator(number=req["number"], repeat=req["repeat"], min_repeat_ms=req["min_repeat_ms"],
                                 cache_flush=req.get("cache_flush", False))
        return {"error": "NO_ERROR", "costs": list(timer(*work).results)}
    f, info = _build(state, req)
    if f is None:
        kind, msg = info
        return {"error": kind, "msg": msg}
    t = state.task(req["spec"])
    arrays, ref, outs, names = state.inputs(req["spec"], req.get("seed", 0), t.config_space.from_json(req["config"]))
    work = [a.copy() for a in arrays]
    if req.get("check", True):
        for p in outs:
            if np.issubdtype(work[p].dtype, np.floating):
                work[p].fill(np.nan)  # an element the kernel leaves unwritten fails the comparison
            else:
                work[p].fill(np.iinfo(work[p].dtype).min if np.issubdtype(work[p].dtype, np.integer) else 0)
        f(*work)
        for p, want in zip(outs, ref, strict=True):
            got = work[p]
            if np.issubdtype(got.dtype, np.floating):
                scale = float(np.max(np.abs(want))) if want.size else 0.0
                ok = np.allclose(got, want, rtol=1e-3, atol=1e-4 * max(scale, 1.0), equal_nan=False)
            else:
                ok = np.array_equal(got, want)
            if not ok:
                bad = int(np.sum(~np.isclose(got, want, rtol=1e-3, atol=1e-4))) if got.dtype.kind == "f" else -1
                name = names[p]
                what = f"{bad} of {got.size} elements" if bad >= 0 else "integer results"
                return {"error": "WRONG_ANSWER", "msg": f"output '{name}' differs from the reference ({what})"}
    state.prepared[req["id"]] = (f, work)
    return {"error": "NO_ERROR", "build_time": info}


def _send(f: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(struct.pack("<Q", len(data)) + data)
    f.flush()


def _read_exact(f: IO[bytes], n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError("the worker's pipe closed")
        buf += chunk
    return buf


def _recv(f: IO[bytes]) -> Any:
    (n,) = struct.unpack("<Q", _read_exact(f, 8))
    return pickle.loads(_read_exact(f, n))


def stdio_main(role: str) -> None:
    """The loop of a worker process: one request in, one answer out, until None arrives."""
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # prints of templates or kernels must not corrupt the channel
    channel_in = sys.stdin.buffer
    os.environ["TEX_TUNE_WORKER"] = role  # lets a test template tell where it runs (crash/hang injection)
    # Ctrl-C reaches the whole process group: the parent handles it (keeps its log, closes us); a worker
    # interrupted mid-request would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state = _State()
    while True:
        try:
            req = _recv(channel_in)
        except EOFError:
            return
        if req is None:
            return
        try:
            ans = _serve(req, state)
        except Exception as e:
            ans = {"error": "UNKNOWN_ERROR", "msg": f"{type(e).__name__}: {e}",
                   "trace": traceback.format_exc(limit=4)}
        _send(channel_out, ans)


@dataclass
class Answer:
    error: str
    msg: str = ""
    costs: tuple[float, ...] = ()
    build_time: float = 0.0


class Worker:
    """A persistent child process; `submit(request)` then `result(timeout)` gives its answer or an error."""

    def __init__(self, role: str):
        self.role = role
        self.proc: subprocess.Popen[bytes] | None = None
        self.generation = 0  # bumped on every (re)start: kernels prepared in an older process are gone

    def _start(self) -> None:
        if os.environ.get("TEX_TUNE_WORKER"):
            # We are a worker ourselves: loading the template's file ran code that tunes. Starting more
            # workers here would recurse without end.
            raise TuneError("a tuning worker tried to start tuning: the file defining the template runs tuning "
                            "when imported; put that code under `if __name__ == \"__main__\":`")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from tex.tune.worker import stdio_main; stdio_main({self.role!r})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.generation += 1

    def submit(self, req: dict[str, Any]) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            _send(self.proc.stdin, req)
        except (BrokenPipeError, OSError):
            self.kill()
            self._start()
            _send(self.proc.stdin, req)  # type: ignore[union-attr]

    def result(self, timeout: float) -> Answer:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            return Answer("TIMEOUT", f"no answer within {timeout:g} s")
        try:
            ans = _recv(proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError, struct.error):
            code = proc.wait(timeout=5)
            self.kill()
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return Answer("CRASH", f"the worker process died ({how})")
        return Answer(ans["error"], ans.get("msg", ""), tuple(ans.get("costs", ())), ans.get("build_time", 0.0))

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(timeout=5)
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    f.close()
        self.proc = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None and self.proc.stdin is not None:
            try:
                _send(self.proc.stdin, None)
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()


def median_cost(costs: tuple[float, ...]) -> float:
    return float(np.median(costs)) if costs else math.inf
