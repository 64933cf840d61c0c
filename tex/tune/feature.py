"""Features of a config for the cost model, read from its lowered loop IR (AutoTVM's "itervar" features).

For the `TOP_STORES` stores that run most often, and for each of the `MAX_DEPTH` loops around it
(innermost first):

    loop:    log2(extent), kind one-hot (serial, parallel, vectorized, unrolled), log2(iterations inside)
    access:  for the store and its first `MAX_BUFFERS - 1` loads: log2(1 + |stride|) of the flattened
             address with respect to this loop, log2 of the bytes the loop nest from here inward touches,
             and log2 of the reuse (iterations of loops that do not move the address)

plus a few global items (log2 of the local/stack bytes allocated, of the parallel trip count, the
vector lanes). Strides are exact for affine indices and estimated for the rest (`//`, `%`, `min`
are evaluated at two points). The vector is fixed-length: missing loops and buffers are zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tex.ir.nodes import Allocate, Buffer, BufferLoad, For, ForKind, IfThenElse, LetStmt, PrimFunc, Seq, Stmt, Store
from tex.lang import dtypes
from tex.lang.expr import Add, Cast, Const, Expr, FloorDiv, FloorMod, Max, Min, Mul, Sub, Var

MAX_DEPTH = 8
MAX_BUFFERS = 4
TOP_STORES = 2
_KINDS = (ForKind.SERIAL, ForKind.PARALLEL, ForKind.VECTORIZED, ForKind.UNROLLED)
PER_ACCESS = 3
PER_LOOP = 1 + len(_KINDS) + 1 + MAX_BUFFERS * PER_ACCESS
N_GLOBAL = 3
LENGTH = TOP_STORES * MAX_DEPTH * PER_LOOP + N_GLOBAL


def _eval(e: Expr, env: dict[int, int]) -> int:
    """Value of an index expression with loop variables bound (unbound ones are 0)."""
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Var):
        return env.get(id(e), 0)
    if isinstance(e, Add):
        return _eval(e.a, env) + _eval(e.b, env)
    if isinstance(e, Sub):
        return _eval(e.a, env) - _eval(e.b, env)
    if isinstance(e, Mul):
        return _eval(e.a, env) * _eval(e.b, env)
    if isinstance(e, FloorDiv):
        b = _eval(e.b, env)
        return _eval(e.a, env) // b if b else 0
    if isinstance(e, FloorMod):
        b = _eval(e.b, env)
        return _eval(e.a, env) % b if b else 0
    if isinstance(e, Min):
        return min(_eval(e.a, env), _eval(e.b, env))
    if isinstance(e, Max):
        return max(_eval(e.a, env), _eval(e.b, env))
    if isinstance(e, Cast):
        return _eval(e.value, env)
    return 0


def _flat(buf: Buffer, indices: tuple[Expr, ...], env: dict[int, int]) -> int:
    off = 0
    for d, idx in zip(buf.shape, indices, strict=True):
        dim = int(d.value) if isinstance(d, Const) else 1
        off = off * dim + _eval(idx, env)
    return off


@dataclass
class _Loop:
    var: Var
    extent: int
    kind: ForKind


@dataclass
class _Site:
    loops: list[_Loop]  # outermost first
    store: Store
    loads: list[BufferLoad]

    @property
    def count(self) -> int:
        return math.prod(lp.extent for lp in self.loops)


def _loads(e: object, out: list[BufferLoad]) -> None:
    if isinstance(e, BufferLoad):
        out.append(e)
    if isinstance(e, Expr):
        for f in getattr(type(e), "__dataclass_fields__", {}):
            v = getattr(e, f)
            if isinstance(v, Expr):
                _loads(v, out)
            elif isinstance(v, tuple):
                for x in v:
                    _loads(x, out)


def _sites(s: Stmt, loops: list[_Loop], out: list[_Site], allocs: list[int]) -> None:
    if isinstance(s, For):
        ext = int(s.extent.value) if isinstance(s.extent, Const) else 8
        _sites(s.body, [*loops, _Loop(s.var, max(ext, 1), s.kind)], out, allocs)
    elif isinstance(s, Store):
        lds: list[BufferLoad] = []
        _loads(s.value, lds)
        out.append(_Site(loops, s, lds))
    elif isinstance(s, Seq):
        for x in s.stmts:
            _sites(x, loops, out, allocs)
    elif isinstance(s, IfThenElse):
        _sites(s.then_body, loops, out, allocs)
        if s.else_body is not None:
            _sites(s.else_body, loops, out, allocs)
    elif isinstance(s, Allocate):
        n = math.prod(int(d.value) if isinstance(d, Const) else 1 for d in s.buffer.shape)
        allocs.append(n * dtypes.itemsize(s.buffer.dtype))
        _sites(s.body, loops, out, allocs)
    elif isinstance(s, LetStmt):
        _sites(s.body, loops, out, allocs)


def _lg(x: float) -> float:
    return math.log2(1.0 + abs(x))


def _site_features(site: _Site) -> list[float]:
    accesses: list[tuple[Buffer, tuple[Expr, ...]]] = [(site.store.buffer, site.store.indices)]
    accesses += [(ld.buffer, ld.indices) for ld in site.loads][: MAX_BUFFERS - 1]
    loops = site.loops[::-1][:MAX_DEPTH]  # innermost first
    # Strides of every access with respect to every loop variable.
    strides = []
    for buf, idx in accesses:
        base = _flat(buf, idx, {})
        strides.append([_flat(buf, idx, {id(lp.var): 1}) - base for lp in loops])
    feats: list[float] = []
    inner = 1
    for d, lp in enumerate(loops):
        inner *= lp.extent
        feats += [_lg(lp.extent)] + [1.0 if lp.kind is k else 0.0 for k in _KINDS] + [_lg(inner)]
        for a in range(MAX_BUFFERS):
            if a >= len(accesses):
                feats += [0.0] * PER_ACCESS
                continue
            buf = accesses[a][0]
            width = dtypes.itemsize(buf.dtype)
            moving = [loops[i].extent for i in range(d + 1) if strides[a][i] != 0]
            still = [loops[i].extent for i in range(d + 1) if strides[a][i] == 0]
            feats += [_lg(strides[a][d]), _lg(math.prod(moving) * width), _lg(math.prod(still))]
    feats += [0.0] * (MAX_DEPTH - len(loops)) * PER_LOOP
    return feats


def extract(func: PrimFunc) -> np.ndarray:
    """The feature vector (length LENGTH) of a lowered function."""
    sites: list[_Site] = []
    allocs: list[int] = []
    _sites(func.body, [], sites, allocs)
    sites.sort(key=lambda s: -s.count)
    feats: list[float] = []
    for i in range(TOP_STORES):
        feats += _site_features(sites[i]) if i < len(sites) else [0.0] * (MAX_DEPTH * PER_LOOP)
    par = [lp.extent for s in sites for lp in s.loops if lp.kind is ForKind.PARALLEL]
    vec = [lp.extent for s in sites for lp in s.loops if lp.kind is ForKind.VECTORIZED]
    feats += [_lg(sum(allocs)), _lg(max(par, default=0)), _lg(max(vec, default=0))]
    return np.asarray(feats, dtype=np.float32)


def config_features(task: object, configs: list[object], kind: str = "itervar") -> np.ndarray:
    """Features of each config of `task` (rows); a config that fails to lower gets a row of zeros.

    kind "itervar": from the lowered loop IR; "knob": the config's knob values; "both": concatenated.
    """
    from tex.driver import lower

    rows = []
    for cfg in configs:
        parts: list[np.ndarray] = []
        if kind in ("itervar", "both"):
            try:
                s, args = task.instantiate(cfg)  # type: ignore[attr-defined]
                parts.append(extract(lower(s, args)))
            except Exception:
                parts.append(np.zeros(LENGTH, np.float32))
        if kind in ("knob", "both"):
            parts.append(np.log2(1.0 + np.abs(np.asarray(cfg.knob_vector(), np.float32))))  # type: ignore[attr-defined]
        rows.append(np.concatenate(parts))
    return np.stack(rows) if rows else np.zeros((0, LENGTH), np.float32)
