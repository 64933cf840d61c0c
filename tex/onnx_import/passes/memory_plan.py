"""Memory planning: intermediate buffers share storages by liveness (greedy best fit, in step order).

A buffer is live from the step that writes it to the last step that reads it (or reads a view of it).
A step's outputs are placed before its dead inputs are released, so a kernel never writes the storage it
reads (the kernels' pointers are noalias).
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 64


@dataclass(frozen=True)
class MemoryPlan:
    """storage id + byte offset (always 0: one buffer per storage at a time) per buffer id; storage sizes."""

    assignment: dict[int, int]
    storage_sizes: list[int]
    naive_bytes: int

    @property
    def planned_bytes(self) -> int:
        return sum(self.storage_sizes)

    @property
    def saved_bytes(self) -> int:
        return self.naive_bytes - self.planned_bytes


def _round(n: int) -> int:
    return max(ALIGN, -(-n // ALIGN) * ALIGN)


def plan_memory(sizes: dict[int, int], steps: list[tuple[list[int], list[int]]]) -> MemoryPlan:
    """sizes: buffer id -> bytes of the buffers to plan; steps: (inputs, outputs) buffer ids per step, in order."""
    last: dict[int, int] = {}
    for k, (ins, outs) in enumerate(steps):
        for b in ins + outs:
            if b in sizes:
                last[b] = k
    free: list[int] = []
    storage_sizes: list[int] = []
    assignment: dict[int, int] = {}
    for k, (ins, outs) in enumerate(steps):
        for b in outs:
            if b not in sizes or b in assignment:
                continue
            need = _round(sizes[b])
            fits = [s for s in free if storage_sizes[s] >= need]
            if fits:
                sid = min(fits, key=lambda s: storage_sizes[s])
            elif free:
                sid = max(free, key=lambda s: storage_sizes[s])
                storage_sizes[sid] = need
            else:
                sid = len(storage_sizes)
                storage_sizes.append(need)
            if sid in free:
                free.remove(sid)
            assignment[b] = sid
        for b in set(ins + outs):
            if b in assignment and last.get(b) == k:
                free.append(assignment[b])
    return MemoryPlan(assignment, storage_sizes, sum(_round(s) for s in sizes.values()))
