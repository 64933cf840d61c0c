"""One functor base per IR: `Visitor` walks, `Mutator` rebuilds.

Dispatch is on `visit_<ClassName>`, falling back to the node's base classes and then to a generic
walk over dataclass fields, so a subclass overrides only the nodes it cares about. A Mutator
returns the *same object* when no child changed, so `new is old` is a free fixed-point test.
Both memoize by identity, which keeps shared subtrees (DAGs) linear.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tex.lang.expr import Expr, field_names


def _is_node(x: object) -> bool:
    """A dataclass IR node to descend into; classes marked `_leaf` (tensors, ops, buffers) are atoms."""
    return dataclasses.is_dataclass(x) and not isinstance(x, type) and not getattr(x, "_leaf", False)


def _dispatch(
    self: object, cls: type, cache: dict[type, Callable[..., Any]], default: Callable[..., Any]
) -> Callable[..., Any]:
    fn = cache.get(cls)
    if fn is None:
        fn = default
        for klass in cls.__mro__:
            m = getattr(self, f"visit_{klass.__name__}", None)
            if m is not None:
                fn = m
                break
        cache[cls] = fn
    return fn


class Visitor:
    """Walks every node once (by identity); override `visit_<Class>` and call `self.generic(node)`."""

    visit_tensor_bodies = False  # whether a walk descends into the body of a referenced ComputeOp

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._methods: dict[type, Callable[..., Any]] = {}

    def visit(self, n: object) -> None:
        if isinstance(n, tuple):
            for x in n:
                self.visit(x)
            return
        if not _is_node(n) or id(n) in self._seen:
            return
        self._seen.add(id(n))
        _dispatch(self, type(n), self._methods, self.generic)(n)

    def generic(self, n: object) -> None:
        for f in field_names(type(n)):
            v = getattr(n, f)
            if isinstance(v, (tuple, Expr)) or _is_node(v):
                self.visit(v)


class Mutator:
    """Rebuilds a tree bottom-up; unchanged subtrees are returned as the same object."""

    def __init__(self) -> None:
        self._memo: dict[int, Any] = {}
        self._keep: list[object] = []  # keeps memo keys alive so ids are not reused
        self._methods: dict[type, Callable[..., Any]] = {}

    def visit(self, n: Any) -> Any:
        if isinstance(n, tuple):
            new = tuple(self.visit(x) for x in n)
            return n if all(a is b for a, b in zip(new, n)) else new
        if not _is_node(n):
            return n
        key = id(n)
        if key in self._memo:
            return self._memo[key]
        out = _dispatch(self, type(n), self._methods, self.generic)(n)
        self._memo[key] = out
        self._keep.append(n)
        return out

    def generic(self, n: Any) -> Any:
        changes = {}
        for f in field_names(type(n)):
            v = getattr(n, f)
            if isinstance(v, (tuple, Expr)) or _is_node(v):
                nv = self.visit(v)
                if nv is not v:
                    changes[f] = nv
        return dataclasses.replace(n, **changes) if changes else n


class _FnMutator(Mutator):
    def __init__(self, fn: Callable[[Any], Any | None]):
        super().__init__()
        self.fn = fn

    def generic(self, n: Any) -> Any:
        r = self.fn(n)
        return r if r is not None else super().generic(n)


def transform(tree: Any, fn: Callable[[Any], Any | None]) -> Any:
    """Pre-order rewrite: where `fn(node)` returns a value it replaces the node, else recurse."""
    return _FnMutator(fn).visit(tree)


def substitute(tree: Any, mapping: dict[Any, Any]) -> Any:
    """Replace Vars (or any identity-keyed nodes) by the given expressions."""
    if not mapping:
        return tree
    by_id = {id(k): v for k, v in mapping.items()}
    return transform(tree, lambda n: by_id.get(id(n)))


def collect(tree: Any, pred: Callable[[Any], bool]) -> list[Any]:
    """Every distinct node satisfying `pred`, in pre-order."""
    found: list[Any] = []

    class _C(Visitor):
        def generic(self, n: object) -> None:
            if pred(n):
                found.append(n)
            super().generic(n)

    _C().visit(tree)
    return found


def collect_tensors(body: Expr) -> tuple[Any, ...]:
    """The distinct tensors a compute body reads, in order of first use."""
    from tex.lang.tensor import TensorLoad

    out: list[Any] = []
    for load in collect(body, lambda n: isinstance(n, TensorLoad)):
        if load.tensor not in out:
            out.append(load.tensor)
    return tuple(out)
