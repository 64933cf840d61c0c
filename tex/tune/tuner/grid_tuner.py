"""GridSearchTuner: every config in index order."""

from __future__ import annotations

from tex.tune.space import Config
from tex.tune.task import Task
from tex.tune.tuner.tuner import Tuner


class GridSearchTuner(Tuner):
    def __init__(self, task: Task, seed: int | None = None):
        super().__init__(task, seed)
        self._next = 0

    def next_batch(self, batch_size: int) -> list[Config]:
        out = []
        n = len(self.space)
        while len(out) < batch_size and self._next < n:
            if self._next not in self.visited:
                out.append(self.space.get(self._next))
            self._next += 1
        return out

    def has_next(self) -> bool:
        return self._next < len(self.space)
