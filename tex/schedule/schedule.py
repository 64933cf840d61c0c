"""Schedules: one Stage per operation, holding the records of the primitives applied to it.

A schedule is data. Primitives check their arguments, append records and return new IterVars;
`tex.schedule.lower` is the only place that interprets them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from tex.errors import ScheduleError
from tex.ir.nodes import ForKind
from tex.lang import dtypes
from tex.lang.expr import Var
from tex.lang.functor import collect_tensors, transform
from tex.lang.tensor import ComputeOp, IterKind, IterVar, Operation, PlaceholderOp, Reduce, Tensor, TensorLoad
from tex.schedule.relations import Fuse, Relation, Split

SCOPES = ("global", "local", "shared")


class AttachKind(Enum):
    ROOT = "root"
    INLINE = "inline"
    AT = "at"


@dataclass(eq=False)
class Stage:
    """How one operation is computed: its loop nest (leaf_iter_vars), loop kinds and where it is computed."""

    op: Operation
    origin_op: Operation
    schedule: Schedule
    leaf_iter_vars: list[IterVar] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    loop_kinds: dict[IterVar, ForKind] = field(default_factory=dict)
    thread_tags: dict[IterVar, str] = field(default_factory=dict)
    attach: AttachKind = AttachKind.ROOT
    attach_stage: Stage | None = None
    attach_ivar: IterVar | None = None
    scope: str = "global"
    is_output: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.op, ComputeOp):
            self.leaf_iter_vars = list(self.op.axis) + list(self.op.reduce_axis)

    @property
    def name(self) -> str:
        return self.op.name

    def __repr__(self) -> str:
        return f"Stage({self.name})"

    # ------------------------------------------------------------------ helpers

    def _where(self, prim: str, iv: IterVar | None = None) -> str:
        return f"{prim}({self.name}, axis '{iv.name}')" if iv is not None else f"{prim}({self.name})"

    def _leaf(self, prim: str, iv: object) -> IterVar:
        if not isinstance(iv, IterVar):
            raise ScheduleError(f"{prim}({self.name}): expected an axis (IterVar), got {type(iv).__name__} {iv!r}")
        if iv not in self.leaf_iter_vars:
            known = ", ".join(v.name for v in self.leaf_iter_vars) or "none"
            why = "it was already split or fused" if self._is_ancestor(iv) else "it is not an axis of this stage"
            raise ScheduleError(f"{self._where(prim, iv)}: {why}; current loops are [{known}]")
        return iv

    def _is_ancestor(self, iv: IterVar) -> bool:
        return any(iv in (r.parent,) if isinstance(r, Split) else iv in (r.outer, r.inner) for r in self.relations)

    def _compute(self, prim: str) -> ComputeOp:
        if not isinstance(self.op, ComputeOp):
            raise ScheduleError(f"{prim}({self.name}): '{self.name}' is a placeholder, it has no loops to schedule")
        return self.op

    def _new_iv(self, name: str, kind: IterKind) -> IterVar:
        return IterVar(Var(name, dtypes.INDEX), None, kind)

    # ------------------------------------------------------------------ loop structure

    def split(self, parent: IterVar, factor: int | None = None, nparts: int | None = None) -> tuple[IterVar, IterVar]:
        """Split `parent` into (outer, inner): `parent = outer * factor + inner`; tails are guarded."""
        self._compute("split")
        parent = self._leaf("split", parent)
        if (factor is None) == (nparts is None):
            raise ScheduleError(f"{self._where('split', parent)}: give exactly one of factor= or nparts=")
        value = factor if factor is not None else nparts
        what = "factor" if factor is not None else "nparts"
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ScheduleError(f"{self._where('split', parent)}: {what} must be a positive int, got {value!r}")
        outer = self._new_iv(f"{parent.name}.outer", parent.kind)
        inner = self._new_iv(f"{parent.name}.inner", parent.kind)
        self.relations.append(Split(parent, outer, inner, factor, nparts))
        pos = self.leaf_iter_vars.index(parent)
        self.leaf_iter_vars[pos:pos + 1] = [outer, inner]
        return outer, inner

    def tile(self, x: IterVar, y: IterVar, x_factor: int, y_factor: int) -> tuple[IterVar, IterVar, IterVar, IterVar]:
        """Split `x` and `y` and order the loops (x.outer, y.outer, x.inner, y.inner)."""
        xo, xi = self.split(x, x_factor)
        yo, yi = self.split(y, y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    def reorder(self, *axes: IterVar) -> None:
        """Put `axes` in this order, in the positions they occupy together; other loops stay put."""
        self._compute("reorder")
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        for a in axes:
            self._leaf("reorder", a)
        if len(set(axes)) != len(axes):
            raise ScheduleError(f"reorder({self.name}): an axis appears twice in {[a.name for a in axes]}")
        positions = sorted(self.leaf_iter_vars.index(a) for a in axes)
        for pos, a in zip(positions, axes):
            self.leaf_iter_vars[pos] = a

    def fuse(self, *axes: IterVar) -> IterVar:
        """Fuse adjacent loops (outermost first) into one: `fused = outer * extent(inner) + inner`."""
        self._compute("fuse")
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        if not axes:
            raise ScheduleError(f"fuse({self.name}): give at least one axis")
        for a in axes:
            self._leaf("fuse", a)
        pos = [self.leaf_iter_vars.index(a) for a in axes]
        if pos != list(range(pos[0], pos[0] + len(pos))):
            names = [a.name for a in axes]
            raise ScheduleError(f"fuse({self.name}): axes {names} must be adjacent loops, outermost first "
                                f"(current order {[v.name for v in self.leaf_iter_vars]})")
        kinds = {a.kind for a in axes}
        if len(kinds) > 1:
            raise ScheduleError(f"fuse({self.name}): cannot fuse a reduction axis with a spatial axis "
                                f"({', '.join(a.name for a in axes)})")
        fused = axes[0]
        for nxt in axes[1:]:
            out = self._new_iv(f"{fused.name}.{nxt.name}.fused", fused.kind)
            self.relations.append(Fuse(fused, nxt, out))
            p = self.leaf_iter_vars.index(fused)
            self.leaf_iter_vars[p:p + 2] = [out]
            fused = out
        return fused

    # ------------------------------------------------------------------ loop annotations

    def _annotate(self, prim: str, iv: IterVar, kind: ForKind) -> None:
        self._compute(prim)
        self._leaf(prim, iv)
        if iv.kind is IterKind.REDUCE and kind in (ForKind.PARALLEL, ForKind.VECTORIZED):
            raise ScheduleError(f"{self._where(prim, iv)}: a reduction axis cannot be {kind.value} "
                                "(its iterations update the same element); choose a spatial axis")
        self.loop_kinds[iv] = kind

    def vectorize(self, iv: IterVar) -> None:
        """Run the loop as SIMD lanes; it must be the innermost loop of the stage."""
        self._annotate("vectorize", iv, ForKind.VECTORIZED)

    def parallel(self, iv: IterVar) -> None:
        """Run the loop's iterations on all cores."""
        self._annotate("parallel", iv, ForKind.PARALLEL)

    def unroll(self, iv: IterVar) -> None:
        """Unroll the loop fully (its extent must be a constant)."""
        self._annotate("unroll", iv, ForKind.UNROLLED)

    def bind(self, iv: IterVar, thread: IterVar) -> None:
        """Map the loop to a GPU work-group or work-item index (OpenCL)."""
        self._compute("bind")
        self._leaf("bind", iv)
        if not isinstance(thread, IterVar) or thread.kind is not IterKind.THREAD:
            raise ScheduleError(f"{self._where('bind', iv)}: bind to tex.thread_axis(...), got {thread!r}")
        if iv.kind is IterKind.REDUCE:
            raise ScheduleError(f"{self._where('bind', iv)}: cannot bind a reduction axis to a thread index")
        if thread.thread_tag in self.thread_tags.values():
            raise ScheduleError(f"{self._where('bind', iv)}: '{thread.thread_tag}' is already bound in this stage")
        self.loop_kinds[iv] = ForKind.THREAD_BINDING
        self.thread_tags[iv] = thread.thread_tag

    # ------------------------------------------------------------------ where the stage is computed

    def compute_at(self, parent: Stage, ivar: IterVar) -> None:
        """Compute this stage inside loop `ivar` of `parent`, only the region that iteration needs."""
        self._compute("compute_at")
        if not isinstance(parent, Stage):
            raise ScheduleError(f"compute_at({self.name}): parent must be a stage (s[T]), got {parent!r}")
        if parent is self:
            raise ScheduleError(f"compute_at({self.name}): a stage cannot be computed at itself")
        where = f"compute_at({self.name}, {parent.name} axis '{getattr(ivar, 'name', ivar)}')"
        if not isinstance(ivar, IterVar) or ivar not in parent.leaf_iter_vars:
            raise ScheduleError(f"{where}: the axis is not a loop of stage {parent.name}; its loops are "
                                f"[{', '.join(v.name for v in parent.leaf_iter_vars)}]")
        anc: Stage | None = parent
        while anc is not None:
            if anc is self:
                raise ScheduleError(f"{where}: {parent.name} is itself computed inside {self.name} (a cycle)")
            anc = anc.attach_stage
        self.attach, self.attach_stage, self.attach_ivar = AttachKind.AT, parent, ivar

    def compute_inline(self) -> None:
        """Substitute this stage's expression into its consumers; no buffer, no loops."""
        op = self._compute("compute_inline")
        if op.reduce_axis:
            raise ScheduleError(f"compute_inline({self.name}): a reduction cannot be inlined; use compute_at")
        if self.is_output:
            raise ScheduleError(f"compute_inline({self.name}): '{self.name}' is an output of the schedule")
        self.attach, self.attach_stage, self.attach_ivar = AttachKind.INLINE, None, None

    def compute_root(self) -> None:
        """Compute the whole tensor in its own loop nest at the top level (the default)."""
        self._compute("compute_root")
        self.attach, self.attach_stage, self.attach_ivar = AttachKind.ROOT, None, None

    def set_scope(self, scope: str) -> None:
        """Place this stage's buffer in `scope` ("global", "local" or "shared"); outputs stay global."""
        where = f"set_scope({self.name})"
        self._compute("set_scope")
        _check_scope(where, scope)
        if self.is_output and scope != "global":
            raise ScheduleError(f"{where}: '{self.name}' is an output of the schedule and lives in global memory")
        self.scope = scope


class Schedule:
    """The stages of every operation that the outputs depend on, producers first."""

    def __init__(self, outputs: list[Tensor]):
        self.outputs = outputs
        self.stages: list[Stage] = []
        self._by_op: dict[Operation, Stage] = {}
        for op in _post_order([t.op for t in outputs]):
            self._add(Stage(op, op, self))
        for t in outputs:
            self[t].is_output = True

    def _add(self, stage: Stage, before: Stage | None = None) -> Stage:
        if before is None:
            self.stages.append(stage)
        else:
            self.stages.insert(self.stages.index(before), stage)
        self._by_op[stage.origin_op] = stage
        return stage

    def __getitem__(self, key: Tensor | Operation) -> Stage:
        op = key.op if isinstance(key, Tensor) else key
        stage = self._by_op.get(op)  # type: ignore[arg-type]
        if stage is None:
            raise ScheduleError(f"schedule: '{getattr(op, 'name', op)}' is not computed by this schedule "
                                f"(stages: {', '.join(s.name for s in self.stages)})")
        return stage

    def stage_of(self, op: Operation) -> Stage:
        return self[op]

    def consumers(self, stage: Stage) -> list[Stage]:
        """Stages whose current op reads `stage`'s tensor."""
        out = []
        for s in self.stages:
            if isinstance(s.op, ComputeOp) and any(self._by_op.get(t.op) is stage for t in s.op.input_tensors()):
                out.append(s)
        return out

    def cache_read(self, tensor: Tensor, scope: str, readers: Tensor | Operation | list[Tensor | Operation]) -> Tensor:
        """A copy `T.<scope>` of `tensor` that `readers` read instead of it."""
        where = f"cache_read({tensor.name}, '{scope}')"
        _check_scope(where, scope)
        src = self[tensor]
        if not isinstance(readers, (list, tuple)):
            readers = [readers]
        reader_stages = [self[r] for r in readers]
        if not reader_stages:
            raise ScheduleError(f"{where}: give at least one reader")
        ndim = len(src.op.shape)
        from tex.lang.dsl import compute

        cache = compute(tuple(src.op.shape), _identity_fn(tensor, ndim), name=f"{tensor.name}.{scope}")
        for rs in reader_stages:
            if not any(self._by_op.get(t.op) is src for t in _reads(rs.op)):
                raise ScheduleError(f"{where}: stage {rs.name} does not read '{tensor.name}'")
            rs.op = _replace_reads(rs.op, {src.origin_op: cache})
        self._add(Stage(cache.op, cache.op, self, scope=scope), before=min(reader_stages, key=self.stages.index))
        return cache

    def cache_write(self, tensor: Tensor, scope: str) -> Tensor:
        """Compute `tensor` into a `T.<scope>` buffer first and copy it out (register blocking on CPUs).

        Call it before scheduling the stage; the original stage keeps its axes (`T.op.axis`), the cache
        stage gets fresh ones (`s[cache].op.axis`) and takes over the reduction axes.
        """
        where = f"cache_write({tensor.name}, '{scope}')"
        _check_scope(where, scope)
        stage = self[tensor]
        op = stage._compute("cache_write")
        if stage.relations or stage.loop_kinds:
            raise ScheduleError(f"{where}: call cache_write before splitting or annotating stage {stage.name}")
        new_axis = tuple(IterVar(Var(f"{iv.name}.c", dtypes.INDEX), iv.dom, IterKind.SPATIAL) for iv in op.axis)
        from tex.lang.functor import substitute

        body = substitute(op.body, {iv.var: n.var for iv, n in zip(op.axis, new_axis)})
        cache_op = ComputeOp(f"{op.name}.{scope}", op.tag, new_axis, op.reduce_axis, body, op.attrs)
        cache = Tensor(cache_op)
        copy_body = TensorLoad(cache, tuple(iv.var for iv in op.axis), op.dtype)
        stage.op = ComputeOp(op.name, op.tag, op.axis, (), copy_body, op.attrs)
        stage.leaf_iter_vars = list(op.axis)
        self._add(Stage(cache_op, cache_op, self, scope=scope), before=stage)
        return cache


def _check_scope(where: str, scope: str) -> None:
    if scope not in SCOPES:
        raise ScheduleError(f"{where}: scope must be one of {', '.join(SCOPES)}, got {scope!r}")


def _identity_fn(tensor: Tensor, ndim: int):  # noqa: ANN202
    return lambda *idx: tensor[tuple(idx)]


def _reads(op: Operation) -> tuple[Tensor, ...]:
    return collect_tensors(op.body) if isinstance(op, ComputeOp) else ()


def _replace_reads(op: ComputeOp, mapping: dict[Operation, Tensor]) -> ComputeOp:
    def rewrite(n: object) -> object | None:
        if isinstance(n, TensorLoad) and n.tensor.op in mapping:
            new = mapping[n.tensor.op]
            return TensorLoad(new, tuple(rewrite_idx(i) for i in n.indices), n.dtype)
        return None

    def rewrite_idx(e: object) -> object:
        return transform(e, rewrite)

    body = transform(op.body, rewrite)
    if isinstance(op.body, Reduce) and not isinstance(body, Reduce):
        raise AssertionError("rewriting reads must keep the top-level reduction")
    return ComputeOp(op.name, op.tag, op.axis, op.reduce_axis, body, op.attrs)


def _post_order(roots: list[Operation]) -> list[Operation]:
    order: list[Operation] = []
    seen: set[int] = set()

    def visit(op: Operation) -> None:
        if id(op) in seen:
            return
        seen.add(id(op))
        for t in op.input_tensors():
            visit(t.op)
        order.append(op)

    for r in roots:
        visit(r)
    return order


def create_schedule(outputs: Tensor | list[Tensor]) -> Schedule:
    """A default schedule computing `outputs` (and everything they read) at the root, serially."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    for t in outs:
        if not isinstance(t, Tensor):
            raise TypeError(f"create_schedule: expected tensors, got {type(t).__name__} {t!r}")
        if isinstance(t.op, PlaceholderOp):
            raise ScheduleError(f"create_schedule: '{t.name}' is a placeholder, not a computed tensor")
    return Schedule(outs)
