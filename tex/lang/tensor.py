"""Tensors and the operations that produce them: placeholders, computes, reductions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from tex.lang import dtypes
from tex.lang.expr import Const, Expr, ExprLike, Var, convert, node


class IterKind(Enum):
    SPATIAL = "spatial"
    REDUCE = "reduce"
    THREAD = "thread"


@node
class Range:
    """The half-open interval `[min, min + extent)`."""

    min: Expr
    extent: Expr

    def __str__(self) -> str:
        return f"range({self.min}, {self.min + self.extent})" if not _is_zero(self.min) else f"range({self.extent})"


def _is_zero(e: Expr) -> bool:
    return isinstance(e, Const) and e.value == 0


@node
class IterVar:
    """An iteration variable: a loop `var` over `dom`, spatial, reduction or bound to a GPU thread."""

    var: Var
    dom: Range | None
    kind: IterKind
    thread_tag: str = ""

    _leaf = True  # functors treat it as an atom: rebuilding it would change its identity

    @property
    def name(self) -> str:
        return self.var.name

    def __str__(self) -> str:
        return self.var.name

    def __repr__(self) -> str:
        return f"IterVar({self.var.name}, {self.dom}, {self.kind.value})"

    # An IterVar used inside an expression means its variable, as in TVM.
    def _e(self) -> Var:
        return self.var

    def __add__(self, o: ExprLike) -> Expr:
        return self.var + o

    def __radd__(self, o: ExprLike) -> Expr:
        return o + self.var

    def __sub__(self, o: ExprLike) -> Expr:
        return self.var - o

    def __rsub__(self, o: ExprLike) -> Expr:
        return o - self.var

    def __mul__(self, o: ExprLike) -> Expr:
        return self.var * o

    def __rmul__(self, o: ExprLike) -> Expr:
        return o * self.var

    def __floordiv__(self, o: ExprLike) -> Expr:
        return self.var // o

    def __mod__(self, o: ExprLike) -> Expr:
        return self.var % o

    def __lt__(self, o: ExprLike) -> Expr:
        return self.var < o

    def __le__(self, o: ExprLike) -> Expr:
        return self.var <= o

    def __gt__(self, o: ExprLike) -> Expr:
        return self.var > o

    def __ge__(self, o: ExprLike) -> Expr:
        return self.var >= o


class Operation:
    """Base of PlaceholderOp and ComputeOp; compared by identity."""

    __slots__ = ()
    _leaf = True
    name: str
    shape: tuple[Expr, ...]
    dtype: str

    def output(self, index: int = 0) -> Tensor:
        if index != 0:
            raise IndexError(f"{self.name}: operation has one output, asked for output {index}")
        return Tensor(self)

    def input_tensors(self) -> tuple[Tensor, ...]:
        return ()

    __hash__ = object.__hash__


@node
class PlaceholderOp(Operation):
    name: str
    shape: tuple[Expr, ...]
    dtype: str


@node
class ComputeOp(Operation):
    """`name[axis...] = body`, where body may be a single top-level Reduce."""

    name: str
    tag: str
    axis: tuple[IterVar, ...]
    reduce_axis: tuple[IterVar, ...]
    body: Expr
    attrs: tuple[tuple[str, object], ...] = ()

    @property
    def shape(self) -> tuple[Expr, ...]:  # type: ignore[override]
        return tuple(iv.dom.extent for iv in self.axis)  # type: ignore[union-attr]

    @property
    def dtype(self) -> str:  # type: ignore[override]
        return self.body.dtype

    def input_tensors(self) -> tuple[Tensor, ...]:
        from tex.lang.functor import collect_tensors

        return collect_tensors(self.body)


@dataclass(frozen=True, slots=True)
class Tensor:
    """The output of an operation; `T[i, j]` builds an element access."""

    op: Operation
    _leaf = True

    @property
    def shape(self) -> tuple[int | Expr, ...]:
        return tuple(int(s.value) if isinstance(s, Const) else s for s in self.op.shape)

    @property
    def dtype(self) -> str:
        return self.op.dtype

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def ndim(self) -> int:
        return len(self.op.shape)

    def __getitem__(self, indices: object) -> TensorLoad:
        if not isinstance(indices, tuple):
            indices = (indices,)
        if len(indices) != self.ndim:
            raise IndexError(
                f"tensor '{self.name}' has {self.ndim} dimensions, indexed with {len(indices)} indices"
            )
        idx = []
        for i, x in enumerate(indices):
            if isinstance(x, IterVar):
                x = x.var
            if isinstance(x, slice):
                raise TypeError(f"tensor '{self.name}': slices are not supported in an access, use one index per axis")
            e = convert(x, dtypes.INDEX)
            if not dtypes.is_int(e.dtype):
                raise TypeError(
                    f"tensor '{self.name}' axis {i}: index must be an integer expression, got {e.dtype} `{e}`")
            idx.append(e)
        return TensorLoad(self, tuple(idx), self.dtype)

    def __str__(self) -> str:
        return f"Tensor({self.name}, shape={self.shape}, {self.dtype})"

    __repr__ = __str__


@node
class TensorLoad(Expr):
    """`tensor[indices]` in a compute body."""

    tensor: Tensor
    indices: tuple[Expr, ...]
    dtype: str


@node
class Reduce(Expr):
    """A commutative reduction of `source` over `axis` where `condition` holds.

    `combiner` is "sum", "max", "min" or "prod"; the identity element is 0, min_value, max_value or 1.
    """

    combiner: str
    source: Expr
    axis: tuple[IterVar, ...]
    condition: Expr | None
    dtype: str

    def identity(self) -> Const:
        return reduce_identity(self.combiner, self.dtype)


def reduce_identity(combiner: str, dtype: str) -> Const:
    if combiner == "sum":
        return Const(0.0 if dtypes.is_float(dtype) else 0, dtype)
    if combiner == "prod":
        return Const(1.0 if dtypes.is_float(dtype) else 1, dtype)
    if combiner == "max":
        return Const(dtypes.min_value(dtype) if not dtypes.is_float(dtype) else float("-inf"), dtype)
    if combiner == "min":
        return Const(dtypes.max_value(dtype) if not dtypes.is_float(dtype) else float("inf"), dtype)
    raise ValueError(f"unknown reduction combiner {combiner!r}")
