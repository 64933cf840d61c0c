"""The tuning context: which config a running template sees, and which tuning log applies.

This is tex's only global mutable state (STYLE.md), held in `contextvars` so that threads and nested
`with` blocks each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from tex.errors import TuneError

if TYPE_CHECKING:
    from tex.tune.knobs import ConfiguredView, SpaceCollector

_CONFIG: ContextVar[SpaceCollector | ConfiguredView | None] = ContextVar("tex_tune_config", default=None)
_DISPATCH: ContextVar[tuple[Any, ...]] = ContextVar("tex_tune_dispatch", default=())


def get_config() -> SpaceCollector | ConfiguredView:
    """The config of the template being run (collecting its space, tuning, or applying a record)."""
    cfg = _CONFIG.get()
    if cfg is None:
        raise TuneError("tune.get_config() is only valid inside a function decorated with @tune.template")
    return cfg


@contextmanager
def using_config(cfg: SpaceCollector | ConfiguredView) -> Iterator[None]:
    token = _CONFIG.set(cfg)
    try:
        yield
    finally:
        _CONFIG.reset(token)


@contextmanager
def dispatching(ctx: Any) -> Iterator[None]:
    """Push a dispatch context (e.g. apply_history_best) for templates called in this block."""
    token = _DISPATCH.set((*_DISPATCH.get(), ctx))
    try:
        yield
    finally:
        _DISPATCH.reset(token)


def current_dispatch() -> Any | None:
    stack = _DISPATCH.get()
    return stack[-1] if stack else None
