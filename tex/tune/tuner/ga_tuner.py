"""GATuner: a genetic algorithm over knob choices. Fitness is measured throughput; each generation keeps
`elite_num` elites, breeds the rest by uniform crossover of two fitness-weighted parents, and mutates
each knob with probability `mutation_prob`. Already measured configs are never proposed again."""

from __future__ import annotations

import math

import numpy as np

from tex.tune.measure import MeasureInput, MeasureResult
from tex.tune.space import Config
from tex.tune.task import Task
from tex.tune.tuner.tuner import Tuner, unvisited_random


class GATuner(Tuner):
    def __init__(self, task: Task, pop_size: int = 32, elite_num: int = 4, mutation_prob: float = 0.1,
                 seed: int | None = None):
        super().__init__(task, seed)
        self.pop_size = min(pop_size, len(self.space))
        self.elite_num = min(elite_num, self.pop_size)
        self.mutation_prob = mutation_prob
        self.batch_size = self.pop_size
        self.scores: dict[int, float] = {}
        self.queue: list[int] = unvisited_random(len(self.space), set(), self.pop_size, self.rng)

    def _breed(self) -> None:
        ranked = sorted(self.scores.items(), key=lambda kv: -kv[1])
        elites = [i for i, _ in ranked[: self.elite_num]]
        pool = [i for i, _ in ranked[: max(self.pop_size, 2)]]
        w = np.array([max(self.scores[i], 0.0) for i in pool]) + 1e-9
        w = w / w.sum()
        knobs = list(self.space.knobs.values())
        children: list[int] = []
        tries = 0
        while len(children) < self.pop_size and tries < 20 * self.pop_size:
            tries += 1
            a, b = (self.space.get(int(x)) for x in self.rng.choice(pool, 2, p=w))
            choice = {}
            for k in knobs:
                choice[k.name] = (a if self.rng.random() < 0.5 else b).choice[k.name]
                if self.rng.random() < self.mutation_prob:
                    choice[k.name] = int(self.rng.integers(len(k)))
            idx = self.space.index_of(choice)
            if idx not in self.visited and idx not in children:
                children.append(idx)
        if len(children) < self.pop_size:
            children += unvisited_random(len(self.space), self.visited | set(children),
                                         self.pop_size - len(children), self.rng)
        del elites  # elites survive through `scores`; only new configs need measuring
        self.queue = children

    def next_batch(self, batch_size: int) -> list[Config]:
        if not self.queue and self.scores:
            self._breed()
        take, self.queue = self.queue[:batch_size], self.queue[batch_size:]
        return [self.space.get(i) for i in take if i not in self.visited]

    def update(self, inputs: list[MeasureInput], results: list[MeasureResult]) -> None:
        for inp, res in zip(inputs, results, strict=True):
            self.scores[inp.config.index] = self.task.flop / res.cost if math.isfinite(res.cost) else 0.0
