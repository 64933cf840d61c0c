"""Arrays in OpenCL device memory, so kernels chain without host copies (TVM's `tvm.nd`).

    x = tex.nd.array(a, device="opencl")            # copy a numpy array to the device
    y = tex.nd.empty((n,), "float32", device=x.device)
    f(x, y); g(y, z)                                 # OpenCL modules of that device read/write in place
    z.numpy()                                        # the only copy back

`device` is a target string ("opencl", "opencl -device=N": the device `tex.build(..., target=...)` would
use), a built OpenCL module (its device), or an NDArray (its device). pyopencl is imported only when an
array is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tex.targets.opencl.codegen import CL_TYPES
from tex.targets.opencl.runtime import DeviceContext, NDArray, OpenCLModule, empty_on, target_context, to_device
from tex.targets.target import Target, TargetKind, as_target

__all__ = ["NDArray", "array", "empty"]

Device = str | Target | OpenCLModule | NDArray


def array(data: Any, device: Device = "opencl") -> NDArray:
    """A copy of `data` (a numpy array or anything np.asarray takes) in the memory of `device`."""
    a = np.asarray(data, order="C")  # not ascontiguousarray: that makes 0-d arrays 1-d
    _dtype(a.dtype, "tex.nd.array")
    return to_device(a, _context(device, "tex.nd.array"))


def empty(shape: int | tuple[int, ...], dtype: str | np.dtype = "float32", device: Device = "opencl") -> NDArray:
    """A new array of `shape` and `dtype` in the memory of `device`; its contents are undefined."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not all(isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise ValueError(f"tex.nd.empty: shape must be non-negative ints, got {shape!r}")
    return empty_on(tuple(int(d) for d in dims), _dtype(dtype, "tex.nd.empty"), _context(device, "tex.nd.empty"))


def _dtype(dtype: Any, where: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{where}: dtype must be one of {', '.join(CL_TYPES)}, got {dtype!r}") from None
    if dt.name not in CL_TYPES:
        raise TypeError(f"{where}: dtype must be one of {', '.join(CL_TYPES)}, got {dt.name}")
    return dt


def _context(device: Any, where: str) -> DeviceContext:
    if isinstance(device, OpenCLModule | NDArray):
        return device.ctx
    if isinstance(device, str | Target):
        target = as_target(device)
        if target.kind is TargetKind.OPENCL:
            return target_context(target)
    raise ValueError(f"{where}: device must be an OpenCL target ('opencl' or 'opencl -device=N'), an OpenCL "
                     f"module or an NDArray, got {device!r}")
