"""RandomTuner: configs drawn uniformly at random, never twice."""

from __future__ import annotations

from tex.tune.space import Config
from tex.tune.tuner.tuner import Tuner, unvisited_random


class RandomTuner(Tuner):
    def next_batch(self, batch_size: int) -> list[Config]:
        return [self.space.get(i) for i in unvisited_random(len(self.space), self.visited, batch_size, self.rng)]
