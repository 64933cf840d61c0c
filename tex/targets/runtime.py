"""The kernel runtime: `Module` calls a compiled kernel on numpy arrays, checks its arguments, times it.

Every argument is checked before anything runs: count, dtype, shape (static dimensions exactly,
symbolic ones bound and consistent across arguments), C-contiguity, alignment, writability of the
buffers the kernel stores to, and that no two buffers are the same array (kernel pointers are
`noalias`). Errors are one line naming the argument:

    gemm: argument 'B' (#2) must have shape (1024, 1024), got (1024, 512)

The call path is precomputed per parameter. When CPython's object layout allows it, arrays go to the
kernel's `<name>__pyobj` entry as object pointers, so no ctypes pointer object is built per call.
"""

from __future__ import annotations

import ctypes
import math
import operator
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np

from tex.ir.nodes import Buffer, PrimFunc, Store
from tex.lang import dtypes
from tex.lang.expr import Add, Cast, Const, Expr, FloorDiv, FloorMod, Max, Min, Mul, Sub, Var
from tex.lang.functor import collect
from tex.targets.target import Target

_CTYPES = {
    "int8": ctypes.c_int8, "int16": ctypes.c_int16, "int32": ctypes.c_int32, "int64": ctypes.c_int64,
    "uint8": ctypes.c_uint8, "bool": ctypes.c_uint8, "float16": ctypes.c_float,  # half scalars travel as float
    "float32": ctypes.c_float, "float64": ctypes.c_double,
}


class Kernel(Protocol):
    """What a backend hands the runtime: entry addresses and sources."""

    addresses: dict[str, int]
    ll: str

    def asm(self) -> str: ...


_C_CONTIGUOUS, _ALIGNED, _WRITEABLE = 0x1, 0x100, 0x400  # numpy's NPY_ARRAY_* flag bits


@dataclass(frozen=True)
class TimeResult:
    """Seconds per call: one entry of `results` per repeat, each the mean over `number` calls."""

    results: list[float]
    number: int

    @property
    def mean(self) -> float:
        return statistics.fmean(self.results)

    @property
    def median(self) -> float:
        return statistics.median(self.results)

    @property
    def min(self) -> float:
        return min(self.results)

    @property
    def max(self) -> float:
        return max(self.results)

    @property
    def std(self) -> float:
        return statistics.pstdev(self.results) if len(self.results) > 1 else 0.0

    def __str__(self) -> str:
        return (f"mean {self.mean * 1e3:.4f} ms, median {self.median * 1e3:.4f} ms, min {self.min * 1e3:.4f} ms, "
                f"std {self.std * 1e3:.4f} ms ({len(self.results)} x {self.number} calls)")


@dataclass(frozen=True)
class _BufferParam:
    pos: int                              # 0-based position in func.params
    name: str
    dtype: np.dtype
    shape: tuple[int | Expr, ...]         # an int, a Var bound from the array, or an expression of Vars
    written: bool

    def where(self, func: str) -> str:
        return f"{func}: argument '{self.name}' (#{self.pos + 1})"

    def shape_text(self) -> str:
        dims = [d.name if isinstance(d, Var) else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


@dataclass(frozen=True)
class _ScalarParam:
    pos: int
    name: str
    var: Var
    lo: int | float
    hi: int | float
    is_float: bool


@cache
def pyobj_data_offset() -> int | None:
    """Byte offset of `data` in a numpy array object (right after PyObject_HEAD), verified; None if unsure."""
    if platform.python_implementation() != "CPython":
        return None
    off = object.__basicsize__
    probe = np.zeros(3)
    if ctypes.c_void_p.from_address(id(probe) + off).value != probe.ctypes.data:
        return None
    return off


class Module:
    """A compiled kernel: `m(*arrays)`, `m.time_evaluator(...)`, `m.get_source("ll" | "asm" | "ir")`.

    `.func` is the PrimFunc it was built from, `.target` its Target, `.lowered` the loop IR after the
    target's own passes (what was compiled).
    """

    def __init__(self, func: PrimFunc, target: Target, kernel: Kernel, lowered: PrimFunc,
                 extra: Sequence[Var] = (), symbol: str | None = None, pyobj: bool = False,
                 before_call: Callable[[], None] | None = None):
        self.func, self.target, self.lowered, self.kernel = func, target, lowered, kernel
        self.name = func.name
        self.symbol = symbol or func.name  # the entry function's name in the compiled code
        self._before_call = before_call    # a backend's per-call check (the llvm fork guard's warning)
        self.extra = tuple(extra)
        written = {id(s.buffer) for s in collect(func.body, lambda n: isinstance(n, Store))}
        self._buffers: list[_BufferParam] = []
        self._scalars: list[_ScalarParam] = []
        for pos, p in enumerate(func.params):
            if isinstance(p, Buffer):
                shape = tuple(_dim(d) for d in p.shape)
                self._buffers.append(_BufferParam(pos, p.name, np.dtype(p.dtype), shape, id(p) in written))
            else:
                lo, hi = dtypes.min_value(p.dtype), dtypes.max_value(p.dtype)
                self._scalars.append(_ScalarParam(pos, p.name, p, lo, hi, dtypes.is_float(p.dtype)))
        self._nargs = len(func.params)
        self._static = not self._scalars and not self.extra and \
            all(isinstance(d, int) for b in self._buffers for d in b.shape)
        # per buffer: dtype, shape, and the flag bits it needs (C-contiguous, aligned, writeable if written)
        self._fast = tuple((b.dtype, b.shape, _C_CONTIGUOUS | _ALIGNED | (_WRITEABLE if b.written else 0))
                           for b in self._buffers)
        # (written, other) positions: a written buffer must not alias another (the kernel's pointers are noalias)
        self._alias_pairs = tuple((w, o) for w, bw in enumerate(self._buffers) if bw.written
                                  for o in range(len(self._buffers)) if o != w)
        argtypes = [ctypes.c_void_p if isinstance(p, Buffer) else _CTYPES[p.dtype] for p in func.params]
        argtypes += [_CTYPES[v.dtype] for v in self.extra]
        self._cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(kernel.addresses[self.symbol])
        self._pyfunc: Callable[..., int] | None = None
        if pyobj:
            pyargs = [ctypes.py_object if t is ctypes.c_void_p else t for t in argtypes]
            self._pyfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *pyargs)(kernel.addresses[f"{self.symbol}__pyobj"])

    # ------------------------------------------------------------ calling
    def __call__(self, *args: Any) -> None:
        if self._before_call is not None:
            self._before_call()
        pyfunc = self._pyfunc
        if pyfunc is not None and self._static and len(args) == self._nargs and self._fast_ok(args):
            rc = pyfunc(*args)
        else:
            arrays, scalars = self._check(args)
            if pyfunc is not None:
                rc = pyfunc(*self._order(arrays, scalars))
            else:
                rc = self._cfunc(*self._order([a.ctypes.data for a in arrays], scalars))
        if rc != 0:
            self._failed(rc)

    def _fast_ok(self, args: tuple[Any, ...]) -> bool:
        """The common case, checked with as little work as possible: exact ndarrays, all dims static."""
        for a, (dt, shape, need) in zip(args, self._fast):
            if type(a) is not np.ndarray or a.dtype is not dt or a.shape != shape or a.flags.num & need != need:
                return False
        for w, o in self._alias_pairs:  # arrays that own their data (base None) are distinct allocations
            x, y = args[w], args[o]
            if x is y or ((x.base is not None or y.base is not None) and np.may_share_memory(x, y)):
                return False
        return True

    def _order(self, arrays: Sequence[Any], scalars: dict[int, int | float]) -> list[Any]:
        """Kernel arguments in parameter order, then the extra shape variables."""
        out: list[Any] = [None] * self._nargs
        for b, a in zip(self._buffers, arrays):
            out[b.pos] = a
        for s in self._scalars:
            out[s.pos] = scalars[id(s.var)]
        out.extend(scalars[id(v)] for v in self.extra)
        return out

    def _check(self, args: tuple[Any, ...]) -> tuple[list[np.ndarray], dict[int, int | float]]:
        """Every argument checked and converted; returns the arrays and the value of every variable."""
        name = self.name
        if len(args) != self._nargs:
            names = ", ".join(p.name for p in self.func.params)
            raise TypeError(f"{name}: expected {self._nargs} arguments ({names}), got {len(args)}")
        values: dict[int, int | float] = {}
        source: dict[int, str] = {}
        for s in self._scalars:
            values[id(s.var)] = self._scalar(s, args[s.pos])
            source[id(s.var)] = f"argument '{s.name}'"
        arrays: list[np.ndarray] = []
        pending: list[tuple[_BufferParam, np.ndarray]] = []
        for b in self._buffers:
            a = args[b.pos]
            if type(a) is not np.ndarray:
                a = _as_array(a, b.where(name))
            if a.dtype != b.dtype:
                raise TypeError(f"{b.where(name)} must have dtype {b.dtype.name}, got {a.dtype.name}")
            if a.ndim != len(b.shape):
                raise ValueError(f"{b.where(name)} must have shape {b.shape_text()} ({len(b.shape)} dimensions), "
                                 f"got {tuple(a.shape)}")
            for d, got in zip(b.shape, a.shape):
                if isinstance(d, int):
                    if d != got:
                        raise ValueError(f"{b.where(name)} must have shape {b.shape_text()}, got {tuple(a.shape)}")
                elif not isinstance(d, Var):
                    pending.append((b, a))
                elif id(d) in values:
                    if values[id(d)] != got:
                        raise ValueError(
                            f"{b.where(name)} must have shape {b.shape_text()} with {d.name} = {values[id(d)]} "
                            f"(from {source[id(d)]}), got {tuple(a.shape)}"
                        )
                else:
                    values[id(d)] = got
                    source[id(d)] = f"argument '{b.name}'"
            if not a.flags.c_contiguous:
                raise ValueError(f"{b.where(name)} must be C-contiguous (row-major, dense), got strides "
                                 f"{a.strides}; pass np.ascontiguousarray(...)")
            if not a.flags.aligned:
                raise ValueError(f"{b.where(name)} must be aligned to its {a.itemsize}-byte element size")
            if b.written and not a.flags.writeable:
                raise ValueError(f"{b.where(name)} is written by the kernel but the array is read-only")
            arrays.append(a)
        for b, a in pending:  # dimensions such as n * 2: every variable is bound by now
            for d, got in zip(b.shape, a.shape):
                if isinstance(d, Expr) and not isinstance(d, Var):
                    want = _evaluate(d, values, f"{b.where(name)}: shape {b.shape_text()}")
                    if want != got:
                        full = tuple(x if isinstance(x, int) else _evaluate(x, values, "") for x in b.shape)
                        raise ValueError(f"{b.where(name)} must have shape {b.shape_text()} = {full}, "
                                         f"got {tuple(a.shape)}")
        for v in self.extra:
            _in_range(int(values[id(v)]), v.dtype, f"{name}: shape variable '{v.name}'")
        for w, o in self._alias_pairs:
            if arrays[w].size and arrays[o].size and np.may_share_memory(arrays[w], arrays[o]):
                bw, bo = self._buffers[w], self._buffers[o]
                raise ValueError(f"{bw.where(name)} overlaps the memory of argument '{bo.name}'; the kernel writes "
                                 f"'{bw.name}' and its buffers must not alias (pass a copy)")
        return arrays, values

    def _scalar(self, s: _ScalarParam, value: Any) -> int | float:
        if type(value) is int and s.lo <= value <= s.hi and not s.is_float:
            return value
        where = f"{self.name}: argument '{s.name}' (#{s.pos + 1})"
        if s.is_float:
            if not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{where} must be a number, got {type(value).__name__}")
            return float(value)
        try:
            v = operator.index(value)
        except TypeError:
            raise TypeError(f"{where} must be an integer ({s.var.dtype}), got {type(value).__name__}") from None
        return _in_range(v, s.var.dtype, where)

    def _failed(self, rc: int) -> None:
        if rc == -1:
            raise MemoryError(f"{self.name}: the kernel could not allocate its temporary buffers")
        raise RuntimeError(f"{self.name}: the kernel returned error code {rc}")

    # ------------------------------------------------------------ timing
    def time_evaluator(self, number: int = 10, repeat: int = 3, min_repeat_ms: float = 0,
                       cache_flush: bool = False) -> Callable[..., TimeResult]:
        """A function of the kernel's arguments returning a TimeResult (seconds per call).

        Arguments are checked once; then one warm-up call, and `repeat` rounds of `number` calls timed
        together. With `min_repeat_ms`, `number` grows until one round lasts at least that long (as in TVM).
        With `cache_flush` every buffer but the first (the input a model's previous kernel just wrote) is
        evicted from the CPU caches before each call, and only the calls are timed: the kernel as a model
        runs it, its weights cold (TVM's cache_flush_cpu_non_first_arg; see targets/llvm/cacheflush.py).
        """
        if number < 1 or repeat < 1:
            raise ValueError(f"{self.name}: time_evaluator needs number >= 1 and repeat >= 1, "
                             f"got number={number}, repeat={repeat}")

        def evaluate(*args: Any) -> TimeResult:
            arrays, scalars = self._check(args)
            if self._before_call is not None:
                self._before_call()
            call_args = self._order([a.ctypes.data for a in arrays], scalars)
            fn = self._cfunc
            rc = fn(*call_args)  # warm-up: caches, pages, the thread pool
            if rc != 0:
                self._failed(rc)
            def run_round(n: int) -> float:
                t0 = time.perf_counter()
                for _ in range(n):
                    fn(*call_args)
                return time.perf_counter() - t0

            if not cache_flush:
                return timed_rounds(run_round, number, repeat, min_repeat_ms)
            from tex.targets.llvm.cacheflush import flusher
            flush = flusher()
            spans = [(a.ctypes.data, a.nbytes) for a in arrays[1:]]

            def run_cold_round(n: int) -> float:  # only the calls are timed, not the flushes before them
                spent = 0.0
                for _ in range(n):
                    for address, nbytes in spans:
                        flush(address, nbytes)
                    t0 = time.perf_counter()
                    fn(*call_args)
                    spent += time.perf_counter() - t0
                return spent

            return timed_rounds(run_cold_round, number, repeat, min_repeat_ms)

        return evaluate

    # ------------------------------------------------------------ sources and export
    def get_source(self, fmt: str = "ll") -> str:
        """"ll": the optimized LLVM IR, "asm": the assembly, "ir": the loop IR that was compiled."""
        if fmt in ("ll", "llvm"):
            return self.kernel.ll
        if fmt in ("asm", "s"):
            return self.kernel.asm()
        if fmt == "ir":
            return str(self.lowered)
        raise ValueError(f"{self.name}: get_source format must be 'll', 'asm' or 'ir', got {fmt!r}")

    def export_library(self, path: str, cc: str | None = None) -> Any:
        """Write the shared library `path` and its C header (`.h`); see tex/targets/export.py."""
        from tex.targets.export import export_library

        return export_library(self, path, cc=cc)

    @property
    def entry_name(self) -> str:
        """The entry function's symbol: the kernel's name, or tex_<name> where that is a libc/libm symbol."""
        return self.symbol

    def __repr__(self) -> str:
        return f"<tex.Module {self.name} for '{self.target}'>"


def timed_rounds(run_round: Callable[[int], float], number: int, repeat: int, min_repeat_ms: float) -> TimeResult:
    """`repeat` rounds of `run_round(n)` (seconds for n calls); n starts at `number` and grows until a round
    lasts `min_repeat_ms` (as in TVM). Shared by every target's time_evaluator."""
    n = number
    results: list[float] = []
    while len(results) < repeat:
        elapsed = run_round(n)
        if elapsed * 1e3 < min_repeat_ms:
            per_call = max(elapsed / n, 1e-9)
            n = max(math.ceil(min_repeat_ms / 1e3 / per_call), math.ceil(n * 1.618))
            continue
        results.append(elapsed / n)
    return TimeResult(results, n)


def _as_array(x: Any, where: str) -> np.ndarray:
    """A numpy view of `x` without copying: an ndarray, a __dlpack__ producer or a buffer-protocol object."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (TypeError, ValueError, BufferError, RuntimeError) as e:
            raise TypeError(f"{where}: cannot view {type(x).__name__} through __dlpack__: {e}") from None
    if hasattr(x, "__array_interface__") or hasattr(x, "__array_struct__"):
        return np.asarray(x)
    try:
        memoryview(x)
    except TypeError:
        raise TypeError(f"{where} must be a numpy array (or support __dlpack__ or the buffer protocol), "
                        f"got {type(x).__name__}") from None
    return np.asarray(x)


def _in_range(v: int, dtype: str, where: str) -> int:
    lo, hi = dtypes.min_value(dtype), dtypes.max_value(dtype)
    if not lo <= v <= hi:
        raise ValueError(f"{where} must fit in {dtype} [{lo}, {hi}], got {v}")
    return v


def _dim(d: Expr) -> int | Expr:
    """A buffer dimension as the runtime checks it: an int, a Var (casts dropped), or an expression."""
    if isinstance(d, Const):
        return int(d.value)
    inner = d
    while isinstance(inner, Cast):
        inner = inner.value
    return inner if isinstance(inner, Var) else d


_OPS: dict[type, Callable[[int, int], int]] = {
    Add: operator.add, Sub: operator.sub, Mul: operator.mul, Min: min, Max: max,
    FloorDiv: lambda a, b: a // b if b else 0, FloorMod: lambda a, b: a % b if b else 0,
}


def _evaluate(e: Expr, values: dict[int, int | float], where: str) -> int:
    """The value of an integer shape expression once its variables are bound."""
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var):
        if id(e) not in values:
            raise ValueError(f"{where}: cannot infer '{e.name}' from the arguments; pass it as a parameter")
        return int(values[id(e)])
    if isinstance(e, Cast):
        return _evaluate(e.value, values, where)
    op = _OPS.get(type(e))
    if op is None:
        raise ValueError(f"{where}: cannot evaluate the dimension `{e}`")
    return op(_evaluate(e.a, values, where), _evaluate(e.b, values, where))  # type: ignore[attr-defined]
