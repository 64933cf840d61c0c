"""What a template sees: `cfg.define_*` declares knobs, `cfg[name]` is the chosen value with an `apply`.

Two types implement the same template-facing methods (STYLE: no class with two modes):

- `SpaceCollector`: a template runs once under it to *declare* its space; `cfg[name]` answers with the
  knob's default, so the template can go on building its schedule.
- `ConfiguredView`: a template runs under it to *instantiate* one `Config`; `define_*` re-derives the
  candidates and checks they match the space the config came from.

Entities (the values `cfg[name]` returns):

    SplitEntity(size)     size = (outer, ..., inner) factors; apply(s, t, axis) -> the split axes, outer first
                          with i = ((o0 * f1 + o1) * f2 + o2) ...; tails are guarded when they do not divide
    ReorderEntity(perm)   apply(s, t, axes) reorders axes as [axes[p] for p in perm]
    AnnotateEntity(anns)  apply(s, t, axes) marks each axis "unroll", "vec" or "none"
    OtherOptionEntity(val)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tex.errors import TuneError
from tex.lang.expr import Const
from tex.lang.tensor import IterVar, Tensor
from tex.schedule import Schedule
from tex.tune.space import Config, ConfigSpace, Knob, factorizations, reorders


@dataclass(frozen=True)
class SplitEntity:
    size: tuple[int, ...]

    def apply(self, s: Schedule, t: Tensor, axis: IterVar) -> list[IterVar]:
        stage = s[t]
        out: list[IterVar] = []
        for i in range(len(self.size) - 1):
            outer, axis = stage.split(axis, factor=math.prod(self.size[i + 1:]))
            out.append(outer)
        return [*out, axis]


@dataclass(frozen=True)
class ReorderEntity:
    perm: tuple[int, ...]

    def apply(self, s: Schedule, t: Tensor, axes: Sequence[IterVar]) -> list[IterVar]:
        order = [axes[p] for p in self.perm]
        s[t].reorder(*order)
        return order


@dataclass(frozen=True)
class AnnotateEntity:
    anns: tuple[str, ...]

    def apply(self, s: Schedule, t: Tensor, axes: Sequence[IterVar]) -> None:
        for ax, ann in zip(axes, self.anns, strict=True):
            if ann == "unroll":
                s[t].unroll(ax)
            elif ann == "vec":
                s[t].vectorize(ax)
            elif ann != "none":
                raise TuneError(f"annotation must be 'unroll', 'vec' or 'none', got {ann!r}")


@dataclass(frozen=True)
class OtherOptionEntity:
    val: Any


Entity = SplitEntity | ReorderEntity | AnnotateEntity | OtherOptionEntity


def _extent(name: str, axis: IterVar | int) -> int:
    if isinstance(axis, int):
        return axis
    ext = axis.dom.extent
    if not isinstance(ext, Const):
        raise TuneError(f"define_split('{name}'): axis '{axis.name}' has a symbolic extent; tuning needs static shapes")
    return int(ext.value)


def split_knob(name: str, axis: IterVar | int, policy: str = "factors", num_outputs: int = 2,
               max_factor: int | None = None, candidate: Sequence[Sequence[int]] | None = None,
               filter: Callable[[tuple[int, ...]], bool] | None = None,  # noqa: A002 (AutoTVM's name)
               default: Sequence[int] | None = None) -> Knob:
    n = _extent(name, axis)
    if not 2 <= num_outputs <= 4:
        raise TuneError(f"define_split('{name}'): num_outputs must be 2, 3 or 4, got {num_outputs}")
    if policy == "candidate":
        if not candidate:
            raise TuneError(f"define_split('{name}'): policy 'candidate' needs candidate=[...]")
        cands = []
        for c in candidate:
            c = tuple(int(x) for x in c)
            if len(c) != num_outputs:
                raise TuneError(f"define_split('{name}'): candidate {list(c)} must have {num_outputs} factors")
            if c[0] == -1:
                c = (-(-n // math.prod(c[1:])), *c[1:])
            cands.append(c)
    else:
        cands = factorizations(n, num_outputs, policy, max_factor)
    if filter is not None:
        cands = [c for c in cands if filter(c)]
    if not cands:
        raise TuneError(f"define_split('{name}'): no factorization of {n} passes the filter")
    return Knob(name, "split", tuple(cands), _default_index(name, cands, default, n))


def _default_index(name: str, cands: list[Any], default: Any, extent: int | None = None) -> int:
    if default is None:
        return 0
    want = tuple(default) if isinstance(default, (list, tuple)) else default
    if isinstance(want, tuple) and want and want[0] == -1 and extent is not None:
        want = (-(-extent // math.prod(want[1:])), *want[1:])
    if want not in cands:
        raise TuneError(f"knob '{name}': default {default!r} is not among its candidates")
    return cands.index(want)


def reorder_knob(name: str, axes: Sequence[IterVar], policy: str = "all",
                 candidate: Sequence[Sequence[int]] | None = None) -> Knob:
    if policy == "all":
        cands = reorders(len(axes))
    elif policy == "candidate" and candidate:
        cands = [tuple(c) for c in candidate]
        for c in cands:
            if sorted(c) != list(range(len(axes))):
                raise TuneError(f"define_reorder('{name}'): {list(c)} is not a permutation of {len(axes)} axes")
    else:
        raise TuneError(f"define_reorder('{name}'): policy must be 'all' or 'candidate' (with candidate=[...])")
    return Knob(name, "reorder", tuple(cands))


def annotate_knob(name: str, axes: Sequence[IterVar], policy: str = "try_unroll",
                  candidate: Sequence[Sequence[str]] | None = None) -> Knob:
    import itertools

    n = len(axes)
    if policy == "try_unroll":
        cands = list(itertools.product(("none", "unroll"), repeat=n))
    elif policy == "try_vec":
        cands = [tuple(["none"] * n)] + [tuple(["none"] * (n - 1) + ["vec"])]
    elif policy == "try_unroll_vec":
        cands = [(*u, last) for u in itertools.product(("none", "unroll"), repeat=n - 1) for last in ("none", "vec")]
    elif policy == "candidate" and candidate:
        cands = [tuple(c) for c in candidate]
    else:
        raise TuneError(f"define_annotate('{name}'): policy must be 'try_unroll', 'try_vec', 'try_unroll_vec' or "
                        f"'candidate', got {policy!r}")
    return Knob(name, "annotate", tuple(cands))


def option_knob(name: str, candidates: Sequence[Any], default: Any = None) -> Knob:
    cands = list(candidates)
    return Knob(name, "knob", tuple(cands), _default_index(name, cands, default))


def entity(knob: Knob, index: int) -> Entity:
    value = knob.candidates[index]
    if knob.kind == "split":
        return SplitEntity(value)
    if knob.kind == "reorder":
        return ReorderEntity(value)
    if knob.kind == "annotate":
        return AnnotateEntity(value)
    return OtherOptionEntity(value)


class _Definer:
    """The `define_*` methods shared by both views; `_define(knob)` is what differs."""

    def _define(self, knob: Knob) -> None:
        raise NotImplementedError

    def define_split(self, name: str, axis: IterVar | int, policy: str = "factors", num_outputs: int = 2,
                     max_factor: int | None = None, candidate: Sequence[Sequence[int]] | None = None,
                     filter: Callable[[tuple[int, ...]], bool] | None = None,  # noqa: A002
                     default: Sequence[int] | None = None) -> None:
        """Ways to split `axis` (or an int extent) into num_outputs factors, outer first."""
        self._define(split_knob(name, axis, policy, num_outputs, max_factor, candidate, filter, default))

    def define_reorder(self, name: str, axes: Sequence[IterVar], policy: str = "all",
                       candidate: Sequence[Sequence[int]] | None = None) -> None:
        """Orders of `axes`: every permutation, or a candidate list of permutations."""
        self._define(reorder_knob(name, axes, policy, candidate))

    def define_annotate(self, name: str, axes: Sequence[IterVar], policy: str = "try_unroll",
                        candidate: Sequence[Sequence[str]] | None = None) -> None:
        """Unroll / vectorize choices for `axes`."""
        self._define(annotate_knob(name, axes, policy, candidate))

    def define_knob(self, name: str, candidates: Sequence[Any], default: Any = None) -> None:
        """A plain choice among values (ints, bools, strings)."""
        self._define(option_knob(name, candidates, default))


class SpaceCollector(_Definer):
    """Collects the knobs a template defines; `cfg[name]` gives the default so the template can finish."""

    def __init__(self) -> None:
        self.space = ConfigSpace()

    def _define(self, knob: Knob) -> None:
        self.space.add(knob)

    def __getitem__(self, name: str) -> Entity:
        knob = self.space.knobs.get(name)
        if knob is None:
            raise TuneError(f"cfg['{name}'] is used before define_*('{name}', ...)")
        return entity(knob, knob.default)

    @property
    def is_fallback(self) -> bool:
        return True


class ConfiguredView(_Definer):
    """One concrete config, seen by the template that instantiates it."""

    def __init__(self, config: Config, fallback: bool = False):
        self.config = config
        self._fallback = fallback

    def _define(self, knob: Knob) -> None:
        have = self.config.space.knobs.get(knob.name)
        if have is None or have.candidates != knob.candidates:
            raise TuneError(f"knob '{knob.name}' differs from the space this config belongs to "
                            f"(the template must define the same knobs for the same arguments)")

    def __getitem__(self, name: str) -> Entity:
        knob = self.config.space.knobs.get(name)
        if knob is None:
            raise TuneError(f"cfg['{name}']: no such knob (knobs: {', '.join(self.config.space.knobs)})")
        return entity(knob, self.config.choice[name])

    @property
    def is_fallback(self) -> bool:
        """True when no tuned record was found and the default config is used."""
        return self._fallback
