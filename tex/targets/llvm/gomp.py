"""libgomp in this process: loading it once, and a guard against fork().

libgomp's thread pool does not survive fork(): a child that enters a parallel region after its parent
started the pool waits forever for threads that were not copied. So every kernel reads a process-wide
flag before `GOMP_parallel`; in a child forked after the parent built parallel kernels the flag is set,
and parallel loops run serially on the calling thread, with one warning. Measure parallel kernels in
processes started with "spawn" or "forkserver".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import warnings
from functools import cache

_FORKED = ctypes.c_int32(0)   # read by the kernels: non-zero = run parallel regions serially
_state = {"started": False, "warned": False}


@cache
def available() -> bool:
    """Load libgomp into the process once; False (with one warning) if it cannot be found."""
    import llvmlite.binding as llvm

    path = ctypes.util.find_library("gomp") or "libgomp.so.1"
    try:
        llvm.load_library_permanently(path)
    except RuntimeError:
        warnings.warn("tex: libgomp not found; parallel loops run serially", RuntimeWarning, stacklevel=3)
        return False
    return True


def fork_flag_address() -> int:
    """The address of the flag the kernels read; marks libgomp as used by this process."""
    _state["started"] = True
    return ctypes.addressof(_FORKED)


def check_forked() -> None:
    """Called before a parallel kernel runs: warn once if this process is a child running serially."""
    if _FORKED.value and not _state["warned"]:
        _state["warned"] = True
        warnings.warn(f"tex: process {os.getpid()} was forked after libgomp started; parallel loops run serially "
                      "here (start workers with 'spawn' or 'forkserver' to measure them)", RuntimeWarning,
                      stacklevel=3)


def _after_fork_in_child() -> None:
    if _state["started"]:
        _FORKED.value = 1


os.register_at_fork(after_in_child=_after_fork_in_child)
