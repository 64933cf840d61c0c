"""Simulated annealing over a config space, guided by a cost model's scores.

`parallel` chains start at random configs; each step moves every chain to a neighbour (one knob changed
to another candidate) and accepts it with probability exp((new - old) / T), T falling linearly from
`temp[0]` to `temp[1]`. The best `n` configs seen that are not in `exclude` are returned, best first.
Scores are cached per config index, so revisiting costs nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import numpy as np

from tex.tune.space import Config, ConfigSpace


def neighbour(space: ConfigSpace, index: int, rng: np.random.Generator) -> int:
    dims = space.dims()
    digits, rest = [], index
    for d in dims:
        rest, digit = divmod(rest, d)
        digits.append(digit)
    movable = [i for i, d in enumerate(dims) if d > 1]
    if not movable:
        return index
    k = movable[int(rng.integers(len(movable)))]
    step = int(rng.integers(1, dims[k]))
    digits[k] = (digits[k] + step) % dims[k]
    out, radix = 0, 1
    for digit, d in zip(digits, dims, strict=True):
        out += digit * radix
        radix *= d
    return out


def anneal(space: ConfigSpace, score: Callable[[Sequence[Config]], np.ndarray], n: int, exclude: set[int],
           rng: np.random.Generator, n_iter: int = 60, parallel: int = 32, temp: tuple[float, float] = (1.0, 0.0),
           patience: int = 20) -> list[Config]:
    size = len(space)
    cache: dict[int, float] = {}

    def scores(idx: list[int]) -> np.ndarray:
        new = sorted({i for i in idx if i not in cache})
        if new:
            for i, v in zip(new, score([space.get(i) for i in new]), strict=True):
                cache[i] = float(v)
        return np.array([cache[i] for i in idx])

    points = [int(x) for x in rng.integers(0, size, min(parallel, size))]
    current = scores(points)
    top: list[tuple[float, int]] = []  # a min-heap of the best n (score, index), excluding `exclude`
    in_top: set[int] = set()

    def offer(idx: list[int], vals: np.ndarray) -> bool:
        changed = False
        for i, v in zip(idx, vals, strict=True):
            if i in exclude or i in in_top:
                continue
            if len(top) < n:
                heapq.heappush(top, (v, i))
                in_top.add(i)
                changed = True
            elif v > top[0][0]:
                _, old = heapq.heapreplace(top, (v, i))
                in_top.discard(old)
                in_top.add(i)
                changed = True
        return changed

    offer(points, current)
    still = 0
    for step in range(n_iter):
        t = temp[0] + (temp[1] - temp[0]) * step / max(1, n_iter - 1)
        cand = [neighbour(space, p, rng) for p in points]
        vals = scores(cand)
        accept = (vals > current) | (rng.random(len(cand)) < np.exp(np.minimum(0, vals - current) / max(t, 1e-9)))
        points = [c if a else p for c, p, a in zip(cand, points, accept, strict=True)]
        current = np.where(accept, vals, current)
        still = 0 if offer(cand, vals) else still + 1
        if still >= patience:
            break
    return [space.get(i) for _, i in sorted(top, reverse=True)]
