"""Evicting buffers from the CPU caches, so that a kernel can be timed as a whole model runs it.

In a model, a conv's weights were last touched a whole inference ago: other kernels have evicted them, and
they come from memory. Timed back to back in isolation they stay in cache, which favours configs that
re-read them often (a tuner's choice measured hot was up to 1.35x slower than the default cold, on
ResNet-50's 1x1 convs). `flush(address, nbytes)` writes back and evicts every cache line of the range
(x86 `clflush`, then `mfence`), as TVM's `cache_flush_cpu_non_first_arg` does; elsewhere it sweeps a
buffer larger than the last-level cache through the caches instead.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from functools import cache

import numpy as np

SWEEP_BYTES = 256 << 20  # the fallback's sweep: more than the largest last-level caches of common CPUs

# clflush every 64-byte line (the line size of every x86 CPU tex targets) from the one holding `addr` on
_IR = """
declare void @llvm.x86.sse2.clflush(ptr)
declare void @llvm.x86.sse2.mfence()

define void @tex_cache_flush(i64 %addr, i64 %n) {
entry:
  %start = and i64 %addr, -64
  %end = add i64 %addr, %n
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %a = phi i64 [%start, %entry], [%next, %loop]
  %p = inttoptr i64 %a to ptr
  call void @llvm.x86.sse2.clflush(ptr %p)
  %next = add i64 %a, 64
  %more = icmp ult i64 %next, %end
  br i1 %more, label %loop, label %done
done:
  call void @llvm.x86.sse2.mfence()
  ret void
}
"""


@cache
def flusher() -> Callable[[int, int], None]:
    """flush(address, nbytes): evict that memory range from every cache level before the next access."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        import ctypes

        from tex.targets.llvm import jit
        from tex.targets.target import Target

        compiled = jit.compile_ir(_IR, Target.parse("llvm"), ["tex_cache_flush"])
        fn = ctypes.CFUNCTYPE(None, ctypes.c_uint64, ctypes.c_int64)(compiled.addresses["tex_cache_flush"])

        def flush(address: int, nbytes: int) -> None:
            fn(address, nbytes)

        flush.compiled = compiled  # type: ignore[attr-defined]  # keeps the machine code alive with the function
        return flush
    sweep = np.zeros(SWEEP_BYTES // 4, dtype=np.float32)

    def sweep_all(address: int, nbytes: int) -> None:
        del address, nbytes
        np.add(sweep, 1.0, out=sweep)

    return sweep_all
