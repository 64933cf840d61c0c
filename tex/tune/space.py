"""Config spaces: knobs, the space they span, and points in it.

A space is the product of its knobs' candidate lists. A config is one point: an int index in
the mixed-radix number system whose digits are the knobs' choices (first knob = least
significant digit), or equivalently a knob -> value mapping. Configs round-trip through JSON.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tex.errors import TuneError


def factorizations(n: int, parts: int, policy: str = "factors", max_factor: int | None = None) -> list[tuple[int, ...]]:
    """Every way of writing `n` as an ordered product of `parts` factors (the first one derived).

    policy "factors": divisors only; "power2": the inner factors are powers of two (the outer one
    is ceil(n / product), so tails may remain); max_factor bounds the inner factors.
    """
    if policy == "factors":
        cands = [d for d in range(1, n + 1) if n % d == 0]
    elif policy == "power2":
        cands = [1 << e for e in range(0, max(1, n).bit_length() + 1) if (1 << e) <= max(n, 1)]
    else:
        raise TuneError(f"define_split: policy must be 'factors', 'power2' or 'candidate', got {policy!r}")
    if max_factor is not None:
        cands = [c for c in cands if c <= max_factor]
    out: list[tuple[int, ...]] = []

    def rec(prefix: tuple[int, ...], rest: int) -> None:
        if len(prefix) == parts - 1:
            out.append((math.ceil(n / math.prod(prefix)) if policy != "factors" else rest,) + prefix)
            return
        for c in cands:
            if policy == "factors" and rest % c:
                continue
            if policy != "factors" and math.prod(prefix) * c > n:
                continue
            rec(prefix + (c,), rest // c if policy == "factors" else rest)

    rec((), n)
    return out


@dataclass(frozen=True)
class Knob:
    """One dimension of a space: a name, its candidate values and a default index."""

    name: str
    kind: str  # "split" | "reorder" | "knob" | "annotate"
    candidates: tuple[Any, ...]
    default: int = 0
    meta: tuple[tuple[str, Any], ...] = ()

    def __len__(self) -> int:
        return len(self.candidates)

    def to_json(self, value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    def from_json(self, value: Any) -> Any:
        v = tuple(value) if isinstance(value, list) else value
        if v not in self.candidates:
            raise TuneError(f"knob '{self.name}': {value!r} is not one of its {len(self.candidates)} candidates")
        return v

    def describe(self) -> str:
        shown = ", ".join(str(self.to_json(c)) for c in self.candidates[:6])
        more = f", ... ({len(self.candidates)} in all)" if len(self.candidates) > 6 else ""
        return f"{self.name} ({self.kind}): [{shown}{more}]"


@dataclass
class ConfigSpace:
    """The knobs a template defines, in definition order; `len()` is the number of configs."""

    knobs: dict[str, Knob] = field(default_factory=dict)

    def add(self, knob: Knob) -> None:
        if knob.name in self.knobs:
            if self.knobs[knob.name] != knob:
                raise TuneError(f"knob '{knob.name}' is defined twice with different candidates")
            return
        if not knob.candidates:
            raise TuneError(f"knob '{knob.name}' has no candidates")
        self.knobs[knob.name] = knob

    def __len__(self) -> int:
        return math.prod(len(k) for k in self.knobs.values())

    def get(self, index: int) -> Config:
        """The config at `index` in [0, len(self))."""
        if not 0 <= index < len(self):
            raise TuneError(f"config index {index} is outside the space of {len(self)} configs")
        choice = {}
        for k in self.knobs.values():
            index, digit = divmod(index, len(k))
            choice[k.name] = digit
        return Config(self, choice)

    def index_of(self, choice: dict[str, int]) -> int:
        idx, radix = 0, 1
        for k in self.knobs.values():
            idx += choice[k.name] * radix
            radix *= len(k)
        return idx

    def default(self) -> Config:
        return Config(self, {k.name: k.default for k in self.knobs.values()})

    def from_json(self, values: dict[str, Any]) -> Config:
        missing = set(self.knobs) - set(values)
        if missing:
            raise TuneError(f"config lacks knobs {sorted(missing)} of this template's space")
        return Config(self, {n: k.candidates.index(k.from_json(values[n])) for n, k in self.knobs.items()})

    def dims(self) -> list[int]:
        return [len(k) for k in self.knobs.values()]

    def __iter__(self) -> Iterator[Config]:
        for idx in range(len(self)):
            yield self.get(idx)

    def version(self) -> str:
        """A short hash of the knob definitions: records from a differently shaped space do not apply."""
        import hashlib

        text = repr([(k.name, k.kind, [k.to_json(c) for c in k.candidates]) for k in self.knobs.values()])
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def __str__(self) -> str:
        lines = [f"ConfigSpace of {len(self)} configs:"]
        lines += [f"  {k.describe()}" for k in self.knobs.values()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Config:
    """A point of a space: the chosen candidate index of each knob."""

    space: ConfigSpace = field(repr=False, compare=False)
    choice: dict[str, int]

    @property
    def index(self) -> int:
        return self.space.index_of(self.choice)

    def value(self, name: str) -> Any:
        knob = self.space.knobs.get(name)
        if knob is None:
            raise TuneError(f"config has no knob '{name}' (knobs: {', '.join(self.space.knobs)})")
        return knob.candidates[self.choice[name]]

    def to_json(self) -> dict[str, Any]:
        return {n: k.to_json(k.candidates[self.choice[n]]) for n, k in self.space.knobs.items()}

    def knob_vector(self) -> list[float]:
        """Numeric features of this config: each knob's value(s), for cost models."""
        out: list[float] = []
        for n, k in self.space.knobs.items():
            v = k.candidates[self.choice[n]]
            if isinstance(v, tuple):
                out += [float(x) if isinstance(x, (int, float)) else float(hash(x) % 97) for x in v]
            elif isinstance(v, (int, float, bool)):
                out.append(float(v))
            else:
                out.append(float(self.choice[n]))
        return out

    def __str__(self) -> str:
        return ", ".join(f"{n}={v}" for n, v in self.to_json().items())


def reorders(n: int, limit: int = 720) -> list[tuple[int, ...]]:
    """Permutations of range(n), identity first, at most `limit` of them."""
    return list(itertools.islice(itertools.permutations(range(n)), limit))


def as_tuple(xs: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(xs)
