"""The OpenCL runtime: device choice, program and buffer caches, `OpenCLModule` (same API as `Module`),
`NDArray` (an array in device memory, made by `tex.nd`).

Device N is the N-th device over all platforms, as `tex.targets.list_devices()` numbers them; `-device=NAME`
and `-platform=NAME` pick the devices whose names contain that word (case-insensitive); without `-device`,
the first (matching) device that builds a trivial kernel (a broken platform is skipped). There is one
`DeviceContext` per device, so "opencl" and "opencl -device=N" naming the same device share context and
queue: an NDArray works with every module built for its device.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from tex.errors import BuildError
from tex.ir.nodes import Buffer, PrimFunc, Store
from tex.lang import dtypes
from tex.lang.expr import Var
from tex.lang.functor import collect
from tex.targets.opencl.codegen import CL_TYPES, Launch
from tex.targets.runtime import Module, TimeResult, _BufferParam, _dim, _ScalarParam, timed_rounds
from tex.targets.target import Target

_PROBE = "__kernel void tex_probe(__global float* x) { x[get_global_id(0)] += 1.0f; }"


def _cl() -> Any:
    try:
        import pyopencl as cl
    except Exception as e:  # pragma: no cover - pyopencl is a dependency of the OpenCL target
        raise BuildError(f"target opencl: pyopencl cannot be imported ({e}); pip install pyopencl") from None
    return cl


def _all_devices() -> list[Any]:
    return [d for _, d in _platform_devices()]


def _platform_devices() -> list[tuple[str, Any]]:
    """(platform name, device) for every device, numbered as `list_devices()` numbers them."""
    cl = _cl()
    try:
        platforms = cl.get_platforms()
    except Exception:
        return []
    out = []
    for p in platforms:
        try:
            out.extend((str(p.name).strip(), d) for d in p.get_devices())
        except Exception:
            continue
    return out


class DeviceContext:
    """One OpenCL device with its context, profiling queue and program cache."""

    def __init__(self, index: int, device: Any):
        cl = _cl()
        self.index, self.device = index, device
        self.context = cl.Context([device])
        self.queue = cl.CommandQueue(self.context, properties=cl.command_queue_properties.PROFILING_ENABLE)
        self.programs: dict[str, Any] = {}
        self.max_work_group_size = int(device.max_work_group_size)
        self.max_work_item_sizes = tuple(int(x) for x in device.max_work_item_sizes)
        self.local_mem_size = int(device.local_mem_size)
        ext = device.extensions.split()
        self.fp16 = "cl_khr_fp16" in ext
        self.fp64 = "cl_khr_fp64" in ext
        self.platform = str(device.platform.name).strip()
        self.driver = str(device.driver_version).strip()

    @property
    def name(self) -> str:
        return str(self.device.name).strip()

    def program(self, source: str, where: str) -> Any:
        prog = self.programs.get(source)
        if prog is None:
            cl = _cl()
            try:
                prog = cl.Program(self.context, source).build()
            except Exception as e:
                first = str(e).strip().splitlines()
                raise BuildError(f"{where}: the OpenCL compiler of '{self.name}' rejected the kernel: "
                                 f"{' | '.join(first[-6:])}") from None
            self.programs[source] = prog
        return prog


@cache
def _context(index: int) -> DeviceContext:
    return DeviceContext(index, _all_devices()[index])


@cache
def device_context(index: int | None, device_name: str | None = None, platform: str | None = None) -> DeviceContext:
    """The device `index`, else the first whose device and platform names contain `device_name` and `platform`
    (case-insensitive) and that builds a kernel; one cached DeviceContext per device."""
    devices = _platform_devices()
    if not devices:
        raise BuildError("target opencl: no OpenCL device found (install an OpenCL driver, e.g. Debian's "
                         "pocl-opencl-icd)")
    if index is not None:
        if index >= len(devices):
            raise BuildError(f"target opencl -device={index}: there are {len(devices)} OpenCL devices "
                             f"(0..{len(devices) - 1}); see `tex targets`")
        if platform is not None and platform.casefold() not in devices[index][0].casefold():
            raise BuildError(f"target opencl -platform={platform} -device={index}: device {index} is on platform "
                             f"'{devices[index][0]}'; see `tex targets`")
        return _context(index)
    picked = [i for i, (p, d) in enumerate(devices)
              if (platform is None or platform.casefold() in p.casefold())
              and (device_name is None or device_name.casefold() in str(d.name).casefold())]
    if not picked:
        wanted = " ".join(f"{k}={v}" for k, v in (("-platform", platform), ("-device", device_name)) if v)
        known = "; ".join(f"{i}: '{str(d.name).strip()}' on '{p}'" for i, (p, d) in enumerate(devices))
        raise BuildError(f"target opencl {wanted}: no OpenCL device's name matches (devices: {known})")
    errors = []
    for i in picked:
        d = devices[i][1]
        try:
            ctx = _context(i)
            ctx.program(_PROBE, "probe")
            return ctx
        except Exception as e:  # a platform that cannot build (e.g. an unknown CPU): try the next one
            errors.append(f"{d.name.strip()}: {e}")
    raise BuildError(f"target opencl: no OpenCL device builds kernels ({'; '.join(errors)})")


def target_context(target: Target) -> DeviceContext:
    """The DeviceContext a parsed opencl target names."""
    return device_context(target.device, target.device_name, target.platform)


@cache
def device_fingerprint(target: Target) -> dict[str, Any]:
    """Platform, device name, driver and OpenCL version of the device `target` resolves to (tuning records)."""
    ctx = target_context(target)
    return {"kind": "opencl", "platform": ctx.platform, "device": ctx.name, "driver": ctx.driver,
            "opencl": str(ctx.device.version).strip()}


class NDArray:
    """A C-contiguous array in the memory of one OpenCL device (`tex.nd.array`, `tex.nd.empty`).

    Modules built for the same device read and write it in place, with no host copy: chain kernels through
    it and call `.numpy()` once at the end. `.data` is the pyopencl Buffer, `.ctx` the DeviceContext.
    """

    def __init__(self, data: Any, shape: tuple[int, ...], dtype: np.dtype, ctx: DeviceContext):
        self.data, self.shape, self.dtype, self.ctx = data, shape, dtype, ctx

    @property
    def device(self) -> str:
        """The target string of its device, as `tex.build(..., target=...)` takes it."""
        return f"opencl -device={self.ctx.index}"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def numpy(self) -> np.ndarray:
        """A new host array with the contents (waits for the kernels queued before it)."""
        out = np.empty(self.shape, self.dtype)
        if out.nbytes:
            _cl().enqueue_copy(self.ctx.queue, out, self.data, is_blocking=True)
        return out

    def copyfrom(self, source: Any) -> NDArray:
        """Overwrite the contents with a host array of the same shape and dtype; returns self."""
        a = np.asarray(source, order="C")
        if a.shape != self.shape or a.dtype != self.dtype:
            raise ValueError(f"NDArray.copyfrom: source must have shape {self.shape} and dtype {self.dtype.name}, "
                             f"got {a.shape} {a.dtype.name}")
        if a.nbytes:
            _cl().enqueue_copy(self.ctx.queue, self.data, a, is_blocking=True)
        return self

    def _standin(self) -> np.ndarray:
        # A host array of the same shape and dtype for Module._check (shape, dtype and aliasing rules); never
        # written or read, so the OS does not back large ones with memory.
        return np.empty(self.shape, self.dtype)

    def __repr__(self) -> str:
        return f"<tex.nd.NDArray shape={self.shape} dtype={self.dtype.name} on '{self.ctx.name}' ({self.device})>"


def to_device(a: np.ndarray, ctx: DeviceContext) -> NDArray:
    """A C-contiguous host array copied into a new NDArray on `ctx`."""
    cl = _cl()
    data = cl.Buffer(ctx.context, cl.mem_flags.READ_WRITE, max(a.nbytes, 1))  # OpenCL has no 0-byte buffers
    if a.nbytes:
        cl.enqueue_copy(ctx.queue, data, a, is_blocking=True)
    return NDArray(data, tuple(a.shape), a.dtype, ctx)


def empty_on(shape: tuple[int, ...], dtype: np.dtype, ctx: DeviceContext) -> NDArray:
    """A new NDArray on `ctx`, contents undefined."""
    cl = _cl()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return NDArray(cl.Buffer(ctx.context, cl.mem_flags.READ_WRITE, max(nbytes, 1)), shape, dtype, ctx)


class OpenCLModule(Module):
    """A compiled OpenCL kernel: `m(*arrays)` copies numpy arrays in, launches, copies the written ones back;
    `tex.nd` arrays of the module's device are used in place (no copy), and the two may be mixed."""

    def __init__(self, func: PrimFunc, target: Target, lowered: PrimFunc, source: str, launch: Launch,
                 ctx: DeviceContext, kernel_name: str, extra: Sequence[Var] = ()):
        # the argument checking state of Module (no native entry point here)
        self.func, self.target, self.lowered, self.kernel = func, target, lowered, None
        self.name, self.symbol = func.name, kernel_name
        self._before_call = None
        self.extra = tuple(extra)
        self.source, self.launch, self.ctx = source, launch, ctx
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
        self._alias_pairs = tuple((w, o) for w, bw in enumerate(self._buffers) if bw.written
                                  for o in range(len(self._buffers)) if o != w)
        self._pyfunc = None
        self._program = ctx.program(source, f"build({func.name})")
        try:
            self._kernel = _cl().Kernel(self._program, kernel_name)
        except Exception as e:  # e.g. a kernel named like an OpenCL built-in (fma, dot, ...) is not found
            raise BuildError(f"build({func.name}): the OpenCL program has no kernel '{kernel_name}' ({e}); if that "
                             f"is the name of an OpenCL built-in function, build with another name='...'") from None
        self._device_buffers: dict[int, Any] = {}

    def _scalar_np(self, dtype: str, value: int | float) -> Any:
        return np.array(value, dtype=np.dtype("uint8" if dtype == "bool" else dtype))[()]

    def _check(self, args: tuple[Any, ...]) -> tuple[list[np.ndarray], dict[int, int | float]]:
        """Module's checks; an NDArray must be on this module's device and is checked through a host stand-in
        of its shape and dtype (the same errors as for numpy arrays; the same NDArray twice is aliasing)."""
        if not any(type(a) is NDArray for a in args):
            return super()._check(args)
        host = list(args)
        standins: dict[int, np.ndarray] = {}  # one per device buffer, so passing it twice reads as aliasing
        for b in self._buffers:
            x = args[b.pos] if b.pos < len(args) else None
            if type(x) is NDArray:
                if x.ctx is not self.ctx:
                    raise ValueError(f"{b.where(self.name)} is an NDArray on {x.device} ('{x.ctx.name}'), but the "
                                     f"module runs on opencl -device={self.ctx.index} ('{self.ctx.name}'); "
                                     f"copy it with tex.nd.array(x.numpy(), device=...)")
                if id(x.data) not in standins:
                    standins[id(x.data)] = x._standin()
                host[b.pos] = standins[id(x.data)]
        return super()._check(tuple(host))

    def _prepare(self, args: tuple[Any, ...]) -> tuple[list[Any], list[tuple[Any, np.ndarray]]]:
        cl = _cl()
        arrays, values = self._check(args)
        ctx = self.ctx
        bufs: list[Any] = []
        readback: list[tuple[Any, np.ndarray]] = []
        for n, (b, a) in enumerate(zip(self._buffers, arrays)):
            x = args[b.pos]
            if type(x) is NDArray:  # already on this device: read and written in place
                bufs.append(x.data)
                continue
            nbytes = max(a.nbytes, 1)
            dev = self._device_buffers.get(n)
            if dev is None or dev.size != nbytes:
                dev = cl.Buffer(ctx.context, cl.mem_flags.READ_WRITE, nbytes)
                self._device_buffers[n] = dev
            if a.nbytes:
                cl.enqueue_copy(ctx.queue, dev, a, is_blocking=False)
            bufs.append(dev)
            if b.written:
                readback.append((dev, a))
        out: list[Any] = [None] * self._nargs
        for b, dev in zip(self._buffers, bufs):
            out[b.pos] = dev
        for s in self._scalars:
            out[s.pos] = self._scalar_np(s.var.dtype, values[id(s.var)])
        out.extend(self._scalar_np(v.dtype, values[id(v)]) for v in self.extra)
        return out, readback

    def _launch(self, call_args: list[Any]) -> Any:
        return self._kernel(self.ctx.queue, self.launch.global_size, self.launch.local_size, *call_args)

    def __call__(self, *args: Any) -> None:
        cl = _cl()
        call_args, readback = self._prepare(args)
        self._launch(call_args)
        for dev, a in readback:
            if a.nbytes:
                cl.enqueue_copy(self.ctx.queue, a, dev, is_blocking=False)
        self.ctx.queue.finish()

    def time_evaluator(self, number: int = 10, repeat: int = 3, min_repeat_ms: float = 0,
                       cache_flush: bool = False) -> Callable[..., TimeResult]:
        """Seconds per kernel launch from OpenCL profiling events (copies excluded); one warm-up launch.
        Takes numpy arrays and NDArrays, as `__call__` does. `cache_flush` is for CPU kernels only."""
        if cache_flush:
            raise ValueError(f"{self.name}: cache_flush evicts host CPU caches; it does not apply to an OpenCL "
                             "device's kernels (tune them without it)")
        if number < 1 or repeat < 1:
            raise ValueError(f"{self.name}: time_evaluator needs number >= 1 and repeat >= 1, "
                             f"got number={number}, repeat={repeat}")

        def evaluate(*args: Any) -> TimeResult:
            call_args, _ = self._prepare(args)
            self._launch(call_args).wait()
            def run_round(n: int) -> float:  # device time from profiling events, not host time
                events = [self._launch(call_args) for _ in range(n)]
                events[-1].wait()
                return sum((e.profile.end - e.profile.start) * 1e-9 for e in events)

            return timed_rounds(run_round, number, repeat, min_repeat_ms)

        return evaluate

    def get_source(self, fmt: str = "cl") -> str:
        """"cl": the OpenCL C source, "ir": the loop IR it was printed from."""
        if fmt in ("cl", "opencl"):
            return self.source
        if fmt == "ir":
            return str(self.lowered)
        raise ValueError(f"{self.name}: get_source format for an OpenCL module must be 'cl' or 'ir', got {fmt!r}")

    def launch_info(self) -> dict[str, Any]:
        """How this module launches, JSON-ready: `{"kernels": [...]}` in launch order (one kernel per module).

        Per kernel: its OpenCL name, `global_size`/`local_size` (the tuples `__call__` launches with; the
        source requires exactly that work-group size), `args` in the order `__call__` passes them -- the
        parameters (a buffer: name, dtype, OpenCL type, shape, role "input" or "output"; a scalar: name,
        dtype, OpenCL type, `shape_of`), then any further shape variables. `shape_of` is the buffer
        dimension a scalar is read from (`{"arg": "A", "dim": 0}`), null for a free scalar. Then the bytes
        of `__local` memory and the OpenCL extensions the source enables.
        The runtime copies every numpy buffer to the device before the launch and reads the outputs back;
        `tex.nd` arrays stay on the device.
        """
        from tex.targets.opencl import required_extensions, shared_bytes

        params = self.func.params
        args: list[dict[str, Any]] = [{} for _ in params]
        dims: dict[int, dict[str, Any]] = {}  # id(shape Var) -> the first buffer dimension that is exactly it
        for b in self._buffers:
            shape: list[int | str] = []
            for d, dim in enumerate(b.shape):
                shape.append(dim if isinstance(dim, int) else str(dim))
                if isinstance(dim, Var):
                    dims.setdefault(id(dim), {"arg": b.name, "dim": d})
            args[b.pos] = {"name": b.name, "kind": "buffer", "dtype": str(params[b.pos].dtype),
                           "cl_type": CL_TYPES[params[b.pos].dtype], "shape": shape,
                           "role": "output" if b.written else "input"}
        for s in self._scalars:
            args[s.pos] = {"name": s.name, "kind": "scalar", "dtype": s.var.dtype, "cl_type": CL_TYPES[s.var.dtype],
                           "shape_of": dims.get(id(s.var))}
        for v in self.extra:
            args.append({"name": v.name, "kind": "scalar", "dtype": v.dtype, "cl_type": CL_TYPES[v.dtype],
                         "shape_of": dims.get(id(v))})
        kernel = {"name": self.symbol, "global_size": [int(x) for x in self.launch.global_size],
                  "local_size": [int(x) for x in self.launch.local_size], "args": args,
                  "local_mem_bytes": shared_bytes(self.func), "extensions": required_extensions(self.source)}
        return {"kernels": [kernel]}

    def __repr__(self) -> str:
        return f"<tex.OpenCLModule {self.name} on '{self.ctx.name}' global={self.launch.global_size} " \
               f"local={self.launch.local_size}>"


def median_seconds(t: TimeResult) -> float:
    return statistics.median(t.results)
