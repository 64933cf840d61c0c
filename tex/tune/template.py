"""Tuning templates: `@tune.template(name)` registers a function `(*args) -> (schedule, tensors)` that
reads its knobs through `tune.get_config()`.

A template is run three ways:
  - to collect its space (`Template.space(args)`): every `cfg[...]` answers with the knob's default;
  - to instantiate a config while tuning (`Template.instantiate(args, config)`);
  - called directly (`matmul(512, 512, 512, "float32")`): under `apply_history_best` with the best
    record for these args and the target, otherwise with the default config.
The registry is a plain dict keyed by name; the only other global state is the context in context.py.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tex.errors import TuneError
from tex.lang.tensor import Tensor
from tex.schedule import Schedule
from tex.tune.context import current_dispatch, using_config
from tex.tune.knobs import ConfiguredView, SpaceCollector
from tex.tune.space import Config, ConfigSpace

TemplateFunc = Callable[..., tuple[Schedule, list[Tensor]]]

_TEMPLATES: dict[str, Template] = {}


def normalize_args(args: Any) -> tuple[Any, ...]:
    """Args as they appear in records: tuples all the way down (JSON gives lists back)."""
    if isinstance(args, (list, tuple)):
        return tuple(normalize_args(a) for a in args)
    return args


@dataclass
class Template:
    """A registered template; see the module docstring."""

    name: str
    func: TemplateFunc
    reference: Callable[..., Any] | None = None
    flop: Callable[..., float] | None = None
    _spaces: dict[tuple[Any, ...], ConfigSpace] = field(default_factory=dict, repr=False)

    @property
    def source_file(self) -> str:
        return inspect.getfile(self.func)

    @property
    def module(self) -> str:
        return self.func.__module__

    def space(self, args: tuple[Any, ...]) -> ConfigSpace:
        args = normalize_args(args)
        sp = self._spaces.get(args)
        if sp is None:
            collector = SpaceCollector()
            with using_config(collector):
                self._run(args)
            sp = self._spaces[args] = collector.space
        return sp

    def instantiate(self, args: tuple[Any, ...], config: Config | None = None,
                    fallback: bool = False) -> tuple[Schedule, list[Tensor]]:
        args = normalize_args(args)
        cfg = config if config is not None else self.space(args).default()
        with using_config(ConfiguredView(cfg, fallback=fallback or config is None)):
            return self._run(args)

    def _run(self, args: tuple[Any, ...]) -> tuple[Schedule, list[Tensor]]:
        out = self.func(*args)
        if (not isinstance(out, tuple) or len(out) != 2 or not isinstance(out[0], Schedule)
                or not isinstance(out[1], (list, tuple))):
            raise TuneError(f"template '{self.name}' must return (schedule, [tensors]), got {type(out).__name__}")
        return out[0], list(out[1])

    def resolve(self, args: tuple[Any, ...], quiet: bool = False) -> Config | None:
        """The config a call with `args` uses: the best record under `apply_history_best`, else None (the
        default; the dispatch context says once why no record applied, unless `quiet`: a caller asking
        whether a record exists, not compiling)."""
        ctx = current_dispatch()
        if ctx is None:
            return None
        config, why = ctx.query(self, normalize_args(args))
        if config is None and why and not quiet:
            warnings.warn(why, RuntimeWarning, stacklevel=3)
        return config

    def __call__(self, *args: Any) -> tuple[Schedule, list[Tensor]]:
        return self.instantiate(args, self.resolve(args))


def template(name: str, reference: Callable[..., Any] | None = None,
             flop: Callable[..., float] | None = None) -> Callable[[TemplateFunc], Template]:
    """Register a tuning template under `name`.

    reference(*args) -> a function of the input arrays returning the expected outputs (numpy), used to
    check measured kernels; without it, the template's computation under tex's default schedule is the
    reference. flop(*args) overrides the FLOP count derived from the computation.
    """
    if not isinstance(name, str) or not name:
        raise TuneError(f"tune.template: the name must be a non-empty string, got {name!r}")

    def register(func: TemplateFunc) -> Template:
        old = _TEMPLATES.get(name)
        # The same function loaded again (a re-import, or the file imported under another module name) is
        # the same template; another function under the same name is a mistake.
        if old is not None and (_origin(old.func) != _origin(func)):
            raise TuneError(f"tune.template('{name}') is already defined by {old.func.__module__}."
                            f"{old.func.__qualname__}; pick another name")
        t = Template(name, func, reference, flop)
        _TEMPLATES[name] = t
        return t

    return register


def _origin(func: Callable[..., Any]) -> tuple[str, str]:
    try:
        path = os.path.realpath(inspect.getfile(func))
    except TypeError:
        path = func.__module__
    return path, func.__qualname__


def lookup(name: str) -> Template:
    t = _TEMPLATES.get(name)
    if t is None:
        known = ", ".join(sorted(_TEMPLATES)) or "none"
        raise TuneError(f"no tuning template named '{name}' (known: {known}); define it with @tune.template or "
                        f"import the module that does")
    return t


def registered() -> list[str]:
    return sorted(_TEMPLATES)
