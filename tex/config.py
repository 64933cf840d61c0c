"""Every environment variable tex reads, read in one place."""

from __future__ import annotations

import os


def debug_flags() -> frozenset[str]:
    """TEX_DEBUG=ir,ll prints the IR after each pass (`ir`) or the LLVM module (`ll`)."""
    raw = os.environ.get("TEX_DEBUG", "")
    return frozenset(f.strip() for f in raw.split(",") if f.strip())


def num_threads() -> int:
    """Threads for parallel loops: TEX_NUM_THREADS, else every core this process may use."""
    raw = os.environ.get("TEX_NUM_THREADS")
    if raw:
        return max(1, int(raw))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
