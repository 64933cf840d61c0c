"""`list_devices()`: the host CPU and every OpenCL device, for `tex targets` and for picking a target.

pyopencl is imported lazily; a missing package, ICD loader or platform simply means no OpenCL devices.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

# The features that decide which kernels are fast, in the order they are summarised.
_KEY_FEATURES = ("sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vnni", "avx512bf16",
                 "avx512fp16", "neon", "sve")


@dataclass(frozen=True)
class CPUDevice:
    """The host CPU as LLVM sees it."""

    name: str                      # LLVM's CPU name, e.g. "znver4"
    model: str                     # the marketing name from /proc/cpuinfo, "" if unknown
    cores: int                     # cores this process may use
    features: dict[str, bool]      # the key features (avx2, fma, avx512f, ...) present or not
    target: str = "llvm"
    kind: str = "cpu"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class OpenCLDevice:
    """One OpenCL device; `target` is the string that builds for it."""

    index: int
    platform: str
    name: str
    type: str                      # "CPU", "GPU", "ACCELERATOR", ...
    compute_units: int
    max_work_group_size: int
    local_mem_size: int            # bytes
    fp16: bool
    fp64: bool
    target: str = ""
    kind: str = "opencl"
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def host_cpu() -> CPUDevice:
    from tex.targets.target import host_cpu_name, host_features

    present = host_features()
    feats = {f: f in present for f in _KEY_FEATURES if f in present or f in ("avx2", "avx512f", "fma")}
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return CPUDevice(name=host_cpu_name(), model=_cpu_model(), cores=cores, features=feats)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def opencl_devices() -> list[OpenCLDevice]:
    """Every OpenCL device, numbered across platforms in order; [] without pyopencl or platforms."""
    try:
        import pyopencl as cl
    except Exception:  # not installed, or its ICD loader is missing
        return []
    try:
        platforms = cl.get_platforms()
    except Exception:  # no platform (PLATFORM_NOT_FOUND_KHR) or a broken ICD
        return []
    out: list[OpenCLDevice] = []
    for p in platforms:
        try:
            devices = p.get_devices()
        except Exception:
            continue
        for d in devices:
            try:
                ext = d.extensions.split()
                out.append(OpenCLDevice(
                    index=len(out),
                    platform=p.name.strip(),
                    name=d.name.strip(),
                    type=_device_type(cl, int(d.type)),
                    compute_units=int(d.max_compute_units),
                    max_work_group_size=int(d.max_work_group_size),
                    local_mem_size=int(d.local_mem_size),
                    fp16="cl_khr_fp16" in ext,
                    fp64="cl_khr_fp64" in ext or bool(getattr(d, "double_fp_config", 0)),
                    target=f"opencl -device={len(out)}",
                ))
            except Exception:  # a device that cannot describe itself is skipped, not fatal
                continue
    return out


def _device_type(cl: object, bits: int) -> str:
    for name in ("GPU", "CPU", "ACCELERATOR", "CUSTOM"):
        if bits & int(getattr(cl.device_type, name, 0)):  # type: ignore[attr-defined]
            return name
    return "DEFAULT"


def list_devices() -> list[CPUDevice | OpenCLDevice]:
    """The host CPU first, then every OpenCL device (`target` on each says how to build for it)."""
    return [host_cpu(), *opencl_devices()]
