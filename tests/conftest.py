"""Fixtures shared across the test folders."""

from __future__ import annotations

import pytest

from tex import tune


@pytest.fixture
def runner_flushes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The cache_flush of every tune.LocalRunner made while the test runs, in order (the runners still work)."""
    flushes: list[bool] = []
    runner = tune.LocalRunner

    def spy(*args: object, **kw: object) -> tune.LocalRunner:
        flushes.append(bool(kw.get("cache_flush")))
        return runner(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(tune, "LocalRunner", spy)
    return flushes
