"""Lowering: interpret a Schedule's records and emit the loop nest of a PrimFunc.

Each stage becomes a loop nest over its leaf iteration variables. Root axes are recovered from the
leaves (`i = i.outer * f + i.inner`); a root axis that can run past its extent (a non-dividing
split) is guarded where its innermost leaf is defined: by shortening that loop to
`min(f, n - rest)` when the leaf enters with coefficient 1, else by an `if`. A reduction
initialises its output before the first reduction loop, repeating the spatial loops that sit
inside it. Stages computed at a loop are emitted at the start of that loop's body, over the
region bound inference gives them, into a buffer of that region's shape.

A "shared" stage computed inside threadIdx-bound loops (the GPU way: at the reduction loop of a
register tile) is filled by the whole work-group: its region is relaxed over those thread loops
(`bound.needs_relax`), its own thread-bound copy loops share the kernel's thread indices, and the fill
sits between two barriers, `barrier; fill; barrier; use`. No guard of the enclosing loops may then
wrap the barriers (every work-item must reach them): such guards move to the innermost statement. The
loops of such nests keep their full trip counts, tails become `if`s: a trip count that differs between
work-items next to a barrier makes PoCL 3.1's work-group compiler abort or miscompile (pocl PR 2281).
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.errors import LoweringError, ScheduleError
from tex.ir.nodes import (
    Allocate,
    Barrier,
    Buffer,
    BufferLoad,
    For,
    ForKind,
    IfThenElse,
    PrimFunc,
    Stmt,
    Store,
    seq,
)
from tex.lang import dtypes
from tex.lang.expr import Const, Expr, Max, Min, Var, binary, convert
from tex.lang.functor import collect, substitute, transform
from tex.lang.simplify import prove, simplify
from tex.lang.tensor import ComputeOp, IterKind, IterVar, Operation, PlaceholderOp, Reduce, Tensor, TensorLoad
from tex.schedule.bound import LoopInfo, Ranges, access_region, enclosing_loops, loop_info, needs_relax
from tex.schedule.schedule import AttachKind, Schedule, Stage

_COMBINE = {"sum": lambda a, b: a + b, "max": lambda a, b: binary(Max, a, b), "min": lambda a, b: binary(Min, a, b),
            "prod": lambda a, b: a * b}


def _zero() -> Const:
    return Const(0, dtypes.INDEX)


@dataclass
class _Guard:
    """`lhs < rhs` (upper) or `lhs >= rhs` (lower) on a root axis; `reduce` marks reduction axes."""

    lhs: Expr
    rhs: Expr
    upper: bool
    reduce: bool
    coord: bool = False  # a tensor coordinate against the tensor's shape (not a split tail)

    def cond(self) -> Expr:
        return self.lhs < self.rhs if self.upper else self.lhs >= self.rhs


class _Lowerer:
    def __init__(self, sch: Schedule, args: list[Tensor | Var], name: str):
        self.sch = sch
        self.args = args
        self.name = name
        self.stages = [s for s in sch.stages if isinstance(s.op, ComputeOp) and s.attach is not AttachKind.INLINE]
        self.body: dict[Stage, Expr] = {}
        self.info: dict[Stage, LoopInfo] = {}
        self.region_min: dict[Stage, list[Expr]] = {}
        self.buffers: dict[Operation, Buffer] = {}  # keyed by the stage's origin op / placeholder op
        self.ranges: Ranges = {}
        self.params: list[Buffer | Var] = []
        self.cooperative: set[Stage] = set()  # shared stages filled by a work-group from inside its thread loops

    # ------------------------------------------------------------------ driver

    def run(self) -> PrimFunc:
        self._check_args()
        self._inline()
        for st in reversed(self.stages):
            self._infer(st)
        self._make_buffers()
        roots = [st for st in self.stages if st.attach is AttachKind.ROOT]
        body = seq(*(self._nest(st) for st in roots))
        for st in reversed(roots):
            buf = self.buffers[st.origin_op]
            if buf not in self.params:
                body = Allocate(buf, body)
        return PrimFunc(self.name, tuple(self.params), body)

    def _stage(self, t: Tensor) -> Stage:
        return self.sch[t.op]

    def _check_args(self) -> None:
        seen: set[str] = set()
        arg_ops = set()
        for a in self.args:
            if isinstance(a, Var):
                continue
            if not isinstance(a, Tensor):
                raise TypeError(f"lower({self.name}): arguments must be tensors or tex.var scalars, got "
                                f"{type(a).__name__} {a!r}")
            arg_ops.add(a.op)
            if a.name in seen:
                raise LoweringError(
                    f"lower({self.name}): two arguments are named '{a.name}'; give tensors distinct names")
            seen.add(a.name)
            st = self._stage(a)
            if isinstance(st.op, ComputeOp) and st.attach is not AttachKind.ROOT:
                raise LoweringError(f"lower({self.name}): argument '{a.name}' is computed {st.attach.value}; "
                                    "a tensor passed as an argument must be computed at the root")
        for t in self.sch.outputs:
            if t.op not in arg_ops:
                raise LoweringError(f"lower({self.name}): output '{t.name}' is not among the arguments")
        for st in self.sch.stages:
            if isinstance(st.op, PlaceholderOp) and st.op not in arg_ops and self.sch.consumers(st):
                readers = ", ".join(c.name for c in self.sch.consumers(st))
                raise LoweringError(f"lower({self.name}): placeholder '{st.name}' is read by {readers} "
                                    "but is not among the arguments")

    # ------------------------------------------------------------------ inlining

    def _inline(self) -> None:
        inlined: dict[Operation, Stage] = {}
        bodies: dict[Stage, Expr] = {}
        for st in self.sch.stages:
            if not isinstance(st.op, ComputeOp):
                continue

            def inline_load(n: object) -> Expr | None:
                if isinstance(n, TensorLoad) and n.tensor.op in inlined:
                    prod = inlined[n.tensor.op]
                    idx = [transform(i, inline_load) for i in n.indices]
                    return substitute(bodies[prod], {iv.var: i for iv, i in zip(prod.op.axis, idx)})  # type: ignore[attr-defined]
                return None

            bodies[st] = transform(st.op.body, inline_load)
            if st.attach is AttachKind.INLINE:
                for op in (st.origin_op, st.op):
                    inlined[op] = st
        self.body = {st: bodies[st] for st in self.stages}

    # ------------------------------------------------------------------ bound inference

    def _reads(self, consumer: Stage, producer: Stage) -> list[tuple[Expr, ...]]:
        loads = collect(self.body[consumer], lambda n: isinstance(n, TensorLoad) and self._stage(n.tensor) is producer)
        return [ld.indices for ld in loads]

    def _actual(self, st: Stage) -> dict[Var, Expr]:
        """Each root axis variable of `st` as a tensor coordinate in terms of the leaf loops."""
        info = self.info[st]
        op = st.op
        assert isinstance(op, ComputeOp)
        return {iv.var: simplify(info.base[iv] + info.value[iv], self.ranges) for iv in op.axis + op.reduce_axis}

    def _infer(self, st: Stage) -> None:
        op = st.op
        assert isinstance(op, ComputeOp)
        base: dict[IterVar, Expr] = {iv: iv.dom.min for iv in op.reduce_axis}  # type: ignore[union-attr]
        extent: dict[IterVar, Expr] = {iv: iv.dom.extent for iv in op.reduce_axis}  # type: ignore[union-attr]
        if st.attach is AttachKind.AT:
            mins, exts = self._region(st)
        else:
            mins, exts = [_zero()] * len(op.axis), list(op.shape)
        for iv, lo, ext in zip(op.axis, mins, exts):
            base[iv], extent[iv] = lo, ext
        self.region_min[st] = mins
        self._check_leaves(st)
        self.info[st] = loop_info(st, extent, base)
        self.ranges.update(self.info[st].leaf_ranges(st.leaf_iter_vars))

    def _check_leaves(self, st: Stage) -> None:
        attached = [s for s in self.stages if s.attach_stage is st]
        for s in attached:
            if s.attach_ivar not in st.leaf_iter_vars:
                leaves = ", ".join(v.name for v in st.leaf_iter_vars)
                raise ScheduleError(f"compute_at({s.name}, {st.name} axis '{s.attach_ivar.name}'): the axis was "  # type: ignore[union-attr]
                                    f"split or fused afterwards; attach to one of [{leaves}]")
        for iv, kind in st.loop_kinds.items():
            if iv not in st.leaf_iter_vars:
                raise ScheduleError(f"{kind.value}({st.name}, axis '{iv.name}'): the axis was split or fused after "
                                    "it was annotated; annotate the new loops instead")
            if kind is ForKind.VECTORIZED:
                if st.leaf_iter_vars[-1] is not iv:
                    inner = st.leaf_iter_vars[st.leaf_iter_vars.index(iv) + 1]
                    raise ScheduleError(f"vectorize({st.name}, axis '{iv.name}'): the vectorized loop must be the "
                                        f"innermost loop of {st.name}, but '{inner.name}' is inside it")
                if any(s.attach_ivar is iv for s in attached):
                    raise ScheduleError(f"vectorize({st.name}, axis '{iv.name}'): a stage is computed at this loop")

    def _region(self, st: Stage) -> tuple[list[Expr], list[Expr]]:
        parent, ivar = st.attach_stage, st.attach_ivar
        assert parent is not None and ivar is not None
        where = f"compute_at({st.name}, {parent.name} axis '{ivar.name}')"
        consumers = [c for c in self.stages if c is not st and self._reads(c, st)]
        if not consumers:
            raise ScheduleError(f"{where}: no stage reads '{st.name}'")
        pos = parent.leaf_iter_vars.index(ivar)
        relax: Ranges = {}
        for iv in parent.leaf_iter_vars[pos + 1:]:
            relax[iv.var] = self.ranges[iv.var]
        indices: list[tuple[Expr, ...]] = []
        for c in consumers:
            chain = c
            while chain is not parent:
                if chain.attach is not AttachKind.AT:
                    raise ScheduleError(f"{where}: '{st.name}' is also read by {c.name}, which is not computed "
                                        f"inside {parent.name}'s loop '{ivar.name}'")
                for iv in chain.leaf_iter_vars:
                    relax[iv.var] = self.ranges[iv.var]
                if chain.attach_stage is parent and parent.leaf_iter_vars.index(chain.attach_ivar) < pos:  # type: ignore[arg-type]
                    raise ScheduleError(f"{where}: '{st.name}' is read by {c.name}, which is computed outside "
                                        f"loop '{ivar.name}'")
                chain = chain.attach_stage  # type: ignore[assignment]
            actual = self._actual(c)
            indices += [tuple(substitute(i, actual) for i in idx) for idx in self._reads(c, st)]
        for owner, iv in enclosing_loops(st):
            if needs_relax(st.scope, owner.thread_tags.get(iv, "")):
                relax[iv.var] = self.ranges[iv.var]  # the region spans every work-item of the group
                self.cooperative.add(st)
        fixed = {v: r for v, r in self.ranges.items() if v not in relax}
        # a work-group's tile keeps its full extent past the tensor's end: every work-item's reads stay inside it
        return access_region(indices, relax, fixed, st.op.shape, clip=st not in self.cooperative)

    # ------------------------------------------------------------------ buffers

    def _make_buffers(self) -> None:
        names: set[str] = set()

        def unique(n: str) -> str:
            out, k = n, 1
            while out in names:
                out, k = f"{n}_{k}", k + 1
            names.add(out)
            return out

        for a in self.args:
            if isinstance(a, Var):
                self.params.append(a)
                names.add(a.name)
                continue
            buf = Buffer(unique(a.name), a.op.shape, a.dtype, "global")
            self.buffers[self._stage(a).origin_op] = buf
            self.params.append(buf)
        # an argument's shape variables become parameters below, so intermediates may be sized by them too
        known = set(collect(tuple(b.shape for b in self.params if isinstance(b, Buffer)), lambda n: isinstance(n, Var)))
        for st in self.stages:
            if st.origin_op in self.buffers:
                continue
            shape = tuple(st.op.shape) if st.attach is AttachKind.ROOT else tuple(
                self.info[st].extent[iv] for iv in st.op.axis)  # type: ignore[attr-defined]
            for d, e in enumerate(shape):
                free = collect(e, lambda n: isinstance(n, Var))
                if not isinstance(e, Const) and not all(v in self.params or v in known for v in free):
                    raise LoweringError(f"lower({self.name}): cannot size the buffer of '{st.name}' (axis {d} needs "
                                        f"{e}); compute it at an outer loop or at the root")
            self.buffers[st.origin_op] = Buffer(unique(st.name), shape, st.op.dtype, st.scope)
        shape_vars: list[Var] = []
        for p in list(self.params):
            if isinstance(p, Buffer):
                for v in collect(p.shape, lambda n: isinstance(n, Var)):
                    if v not in self.params and v not in shape_vars:
                        shape_vars.append(v)
        self.params += shape_vars

    def _load(self, n: object) -> Expr | None:
        if not isinstance(n, TensorLoad):
            return None
        st = self._stage(n.tensor)
        idx = tuple(transform(i, self._load) for i in n.indices)
        if isinstance(st.op, PlaceholderOp):
            return BufferLoad(self.buffers[st.origin_op], idx, n.dtype)
        mins = self.region_min[st]
        idx = tuple(simplify(i - m, self.ranges) for i, m in zip(idx, mins))
        return BufferLoad(self.buffers[st.origin_op], idx, n.dtype)

    # ------------------------------------------------------------------ loop nests

    def _guards(self, st: Stage) -> list[_Guard]:
        op, info = st.op, self.info[st]
        assert isinstance(op, ComputeOp)
        out: list[_Guard] = []
        for iv in op.axis + op.reduce_axis:
            v, red = info.value[iv], iv.kind is IterKind.REDUCE
            if prove(v < info.extent[iv], self.ranges) is not True:
                out.append(_Guard(v, info.extent[iv], True, red))
            if st.attach is AttachKind.AT and not red:
                coord = simplify(info.base[iv] + v, self.ranges)
                dim = op.shape[op.axis.index(iv)]
                if prove(coord >= 0, self.ranges) is not True:
                    out.append(_Guard(coord, _zero(), False, False, True))
                if prove(coord < dim, self.ranges) is not True:
                    out.append(_Guard(coord, dim, True, False, True))
        return out

    def _level(self, st: Stage, e: Expr) -> int:
        leaves = {iv.var: k for k, iv in enumerate(st.leaf_iter_vars)}
        return max((leaves[v] for v in collect(e, lambda n: isinstance(n, Var)) if v in leaves), default=-1)

    def _nest(self, st: Stage) -> Stmt:
        op, info = st.op, self.info[st]
        assert isinstance(op, ComputeOp)
        buf = self.buffers[st.origin_op]
        actual = self._actual(st)
        store_idx = tuple(info.value[iv] for iv in op.axis)
        body = transform(substitute(self.body[st], actual), self._load)
        guards = self._guards(st)
        leaves = st.leaf_iter_vars
        levels = list(range(len(leaves)))
        inserts: dict[int, list[Stage | Stmt]] = {}
        for s in self.stages:
            if s.attach_stage is st:
                inserts.setdefault(leaves.index(s.attach_ivar), []).append(s)  # type: ignore[arg-type]
        sync = max((lvl for lvl, items in inserts.items() if any(self._syncs(x) for x in items)), default=None)
        if sync is not None and st.scope == "local" and self._in_bounds(body):
            # a private tile around barriers: rows past the tensor are computed but never read, every load is
            # inside its buffer; fewer thread-dependent branches (PoCL 3.1 miscompiles some, see the doc)
            guards = [g for g in guards if not g.coord]
        pushed = [] if sync is None else [g for g in guards if self._level(st, g.lhs) <= sync]
        moved = {id(g) for g in pushed}
        guards = [g for g in guards if id(g) not in moved]  # the rest do not wrap a barrier
        shorten = sync is None and st not in self.cooperative  # near barriers: full trip counts, `if` tails
        if isinstance(body, Reduce):
            update: Stmt = Store(buf, store_idx, _COMBINE[body.combiner](BufferLoad(buf, store_idx, buf.dtype),
                                                                          body.source))
            if body.condition is not None:
                update = IfThenElse(body.condition, update)
            first = min(k for k, iv in enumerate(leaves) if iv.kind is IterKind.REDUCE)
            init_levels = [k for k in levels[first + 1:] if leaves[k].kind is not IterKind.REDUCE]
            init_guards = [g for g in guards + pushed
                           if not g.reduce and (self._level(st, g.lhs) > first or id(g) in moved)]
            init = self._loops(st, init_levels, Store(buf, store_idx, body.identity()), init_guards, {}, shorten)
            inserts.setdefault(first - 1, []).insert(0, init)
            return self._loops(st, levels, self._guarded(update, pushed), guards, inserts, shorten)
        return self._loops(st, levels, self._guarded(Store(buf, store_idx, convert(body)), pushed), guards, inserts,
                           shorten)

    def _in_bounds(self, e: Expr) -> bool:
        """Whether every buffer load of `e` is provably inside its buffer for all loop values."""
        for ld in collect(e, lambda n: isinstance(n, BufferLoad)):
            for i, dim in zip(ld.indices, ld.buffer.shape):
                if prove(i >= 0, self.ranges) is not True or prove(i < dim, self.ranges) is not True:
                    return False
        return True

    def _syncs(self, item: Stage | Stmt) -> bool:
        """Whether emitting `item` emits a work-group barrier."""
        if not isinstance(item, Stage):
            return False
        return item in self.cooperative or any(self._syncs(s) for s in self.stages if s.attach_stage is item)

    @staticmethod
    def _guarded(stmt: Stmt, guards: list[_Guard]) -> Stmt:
        if not guards:
            return stmt
        cond = guards[0].cond()
        for g in guards[1:]:
            cond = cond & g.cond()
        return IfThenElse(cond, stmt)

    def _loops(self, st: Stage, levels: list[int], innermost: Stmt, guards: list[_Guard],
               inserts: dict[int, list[Stage | Stmt]], shorten: bool = True) -> Stmt:
        by_level: dict[int, list[_Guard]] = {}
        for g in guards:
            lvl = self._level(st, g.lhs)
            lvl = max((k for k in levels if k <= lvl), default=-1)
            by_level.setdefault(lvl, []).append(g)
        stmt = innermost
        for lvl in reversed(levels):
            iv = st.leaf_iter_vars[lvl]
            stmt = self._with_inserts(stmt, inserts.get(lvl, []))
            kind = st.loop_kinds.get(iv, ForKind.SERIAL)
            extent = self.info[st].extent[iv]
            stmt, extent = self._apply_guards(stmt, by_level.get(lvl, []), iv, extent,
                                              kind if shorten else ForKind.UNROLLED)
            stmt = For(iv.var, _zero(), extent, kind, stmt, st.thread_tags.get(iv, ""))
        stmt = self._with_inserts(stmt, inserts.get(-1, []))
        stmt, _ = self._apply_guards(stmt, by_level.get(-1, []), None, None, ForKind.SERIAL)
        return stmt

    def _with_inserts(self, stmt: Stmt, items: list[Stage | Stmt]) -> Stmt:
        k = len(items) - 1
        while k >= 0:
            item = items[k]
            if isinstance(item, Stage) and item in self.cooperative:
                group: list[Stage] = []  # adjacent cooperative fills share their two barriers
                while k >= 0 and isinstance(items[k], Stage) and items[k] in self.cooperative:
                    group.insert(0, items[k])  # type: ignore[arg-type]
                    k -= 1
                # barrier: every work-item is done reading the previous tile; barrier: the tile is complete
                stmt = seq(Barrier(), *(self._nest(g) for g in group), Barrier(), stmt)
                for g in reversed(group):
                    stmt = Allocate(self.buffers[g.origin_op], stmt)
                continue
            if isinstance(item, Stage):
                stmt = Allocate(self.buffers[item.origin_op], seq(self._nest(item), stmt))
            else:
                stmt = seq(item, stmt)
            k -= 1
        return stmt

    def _apply_guards(self, stmt: Stmt, guards: list[_Guard], iv: IterVar | None, extent: Expr | None,
                      kind: ForKind) -> tuple[Stmt, Expr | None]:
        conds: list[Expr] = []
        for g in guards:
            if iv is not None and g.upper and kind is not ForKind.UNROLLED and extent is not None:
                rest = simplify(g.lhs - iv.var, self.ranges)
                if iv.var not in collect(rest, lambda n: isinstance(n, Var)):
                    extent = simplify(binary(Min, extent, g.rhs - rest), self.ranges)
                    continue
            conds.append(g.cond())
        if conds:
            cond = conds[0]
            for c in conds[1:]:
                cond = cond & c
            stmt = IfThenElse(cond, stmt)
        return stmt, extent


def lower(sch: Schedule, args: list[Tensor | Var], name: str = "main") -> PrimFunc:
    """The loop-IR kernel computing `sch` with `args` as its parameters, after the simplifier."""
    from tex.ir.transform.pipeline import run_passes

    if not isinstance(sch, Schedule):
        raise TypeError(f"lower: expected a Schedule (tex.create_schedule), got {type(sch).__name__}")
    func = _Lowerer(sch, list(args), name).run()
    return run_passes(func, "lower")
