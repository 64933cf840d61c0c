"""The user-facing DSL: placeholder, compute, reduce_axis, reductions and math functions."""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Sequence

from tex.lang import dtypes
from tex.lang import expr as E
from tex.lang.expr import Call, Const, Expr, ExprLike, Var, as_bool, convert
from tex.lang.tensor import ComputeOp, IterKind, IterVar, PlaceholderOp, Range, Reduce, Tensor

Shape = Sequence[int | Expr]


def _shape(shape: Shape | int, where: str) -> tuple[Expr, ...]:
    if isinstance(shape, (int, Expr)):
        shape = (shape,)
    out = []
    for axis, s in enumerate(shape):
        if isinstance(s, bool) or (not isinstance(s, (int, Expr)) and not hasattr(s, "__index__")):
            raise TypeError(f"{where}: shape[{axis}] must be an int or an integer Var, got {s!r}")
        e = convert(int(s) if not isinstance(s, Expr) else s, dtypes.INDEX)
        if not dtypes.is_int(e.dtype):
            raise TypeError(f"{where}: shape[{axis}] must be an integer, got {e.dtype} `{e}`")
        if isinstance(e, Const) and e.value < 0:
            raise ValueError(f"{where}: shape[{axis}] must be non-negative, got {e.value}")
        out.append(E.cast(e, dtypes.INDEX))
    return tuple(out)


def placeholder(shape: Shape | int, dtype: str = "float32", name: str = "placeholder") -> Tensor:
    """An input tensor of the given shape and dtype."""
    where = f"placeholder '{name}'"
    return Tensor(PlaceholderOp(name, _shape(shape, where), dtypes.check(dtype, f"{where}: dtype")))


def var(name: str = "v", dtype: str = "int32") -> Var:
    """A symbolic scalar (a shape or a scalar argument)."""
    return Var(name, dtypes.check(dtype, f"var '{name}'"))


def const(value: int | float | bool, dtype: str | None = None) -> Const:
    """A typed constant."""
    return E.const(value, dtype)


def reduce_axis(dom: tuple[ExprLike, ExprLike], name: str = "k") -> IterVar:
    """A reduction axis over `[lo, hi)`."""
    if not isinstance(dom, (tuple, list)) or len(dom) != 2:
        raise TypeError(f"reduce_axis '{name}': dom must be a pair (lo, hi), got {dom!r}")
    lo, hi = (E.cast(convert(x, dtypes.INDEX), dtypes.INDEX) for x in dom)
    return IterVar(Var(name, dtypes.INDEX), Range(lo, hi - lo), IterKind.REDUCE)


def thread_axis(tag: str, name: str | None = None) -> IterVar:
    """An axis bound to a GPU index such as "blockIdx.x" or "threadIdx.y"."""
    valid = {f"{k}.{c}" for k in ("blockIdx", "threadIdx") for c in "xyz"}
    if tag not in valid:
        raise ValueError(f"thread_axis: tag must be one of {', '.join(sorted(valid))}, got {tag!r}")
    return IterVar(Var(name or tag, dtypes.INDEX), None, IterKind.THREAD, tag)


def compute(shape: Shape | int, fcompute: Callable[..., ExprLike], name: str = "compute", tag: str = "",
            attrs: dict[str, object] | None = None) -> Tensor:
    """A tensor whose element at each index is `fcompute(*index)`; axis names come from the lambda."""
    where = f"compute '{name}'"
    shp = _shape(shape, where)
    params = inspect.signature(fcompute).parameters.values()
    if builtins.any(p.kind is p.VAR_POSITIONAL for p in params):
        names = [f"i{d}" for d in range(len(shp))]
    else:
        names = [p.name for p in params]
        if len(names) != len(shp):
            raise TypeError(f"{where}: fcompute takes {len(names)} indices but the shape has {len(shp)} dimensions")
    axis = tuple(IterVar(Var(n, dtypes.INDEX), Range(Const(0, dtypes.INDEX), s), IterKind.SPATIAL)
                 for n, s in zip(names, shp))
    body = convert(fcompute(*(iv.var for iv in axis)))
    reduce_axes: tuple[IterVar, ...] = ()
    if isinstance(body, Reduce):
        reduce_axes = body.axis
    from tex.lang.functor import collect

    if collect(body, lambda n: isinstance(n, Reduce) and n is not body):
        raise TypeError(f"{where}: a reduction must be the whole body (compute it as its own tensor first)")
    op = ComputeOp(name, tag, axis, reduce_axes, body, tuple(sorted((attrs or {}).items())))
    return Tensor(op)


def _reduction(combiner: str) -> Callable[..., Expr]:
    def reduce(
        source: ExprLike, axis: IterVar | Sequence[IterVar] | None = None, where: ExprLike | None = None
    ) -> Expr:
        axes = (axis,) if isinstance(axis, IterVar) else tuple(axis or ())
        if not axes:
            raise TypeError(f"tex.{combiner}: axis= must name one reduce_axis or a list of them")
        for a in axes:
            if not isinstance(a, IterVar) or a.kind is not IterKind.REDUCE:
                raise TypeError(f"tex.{combiner}: axis must be made by tex.reduce_axis, got {a!r}")
        src = convert(source)
        cond = as_bool(where, f"tex.{combiner}(where=)") if where is not None else None
        return Reduce(combiner, src, axes, cond, src.dtype)

    return reduce


sum = _reduction("sum")  # noqa: A001 (shadows the builtin on purpose, as tvm.te.sum does)
prod = _reduction("prod")
_max_reduce = _reduction("max")
_min_reduce = _reduction("min")


def max(a: ExprLike, b: ExprLike | None = None, *, axis: IterVar | Sequence[IterVar] | None = None,  # noqa: A001
        where: ExprLike | None = None) -> Expr:
    """Elementwise `max(a, b)`, or a max-reduction of `a` over `axis`."""
    if b is None or axis is not None:
        return _max_reduce(a, axis if axis is not None else b, where)  # type: ignore[arg-type]
    return E.binary(E.Max, a, b)


def min(a: ExprLike, b: ExprLike | None = None, *, axis: IterVar | Sequence[IterVar] | None = None,  # noqa: A001
        where: ExprLike | None = None) -> Expr:
    """Elementwise `min(a, b)`, or a min-reduction of `a` over `axis`."""
    if b is None or axis is not None:
        return _min_reduce(a, axis if axis is not None else b, where)  # type: ignore[arg-type]
    return E.binary(E.Min, a, b)


def if_then_else(cond: ExprLike, true_value: ExprLike, false_value: ExprLike) -> Expr:
    """`true_value` where `cond` holds, else `false_value` (both sides may be evaluated)."""
    c = as_bool(convert(cond), "if_then_else")
    t, f = E._operands(true_value, false_value)
    return E.Select(c, t, f)


select = if_then_else


def all(*conds: ExprLike) -> Expr:  # noqa: A001
    """The conjunction of conditions."""
    if not conds:
        return Const(True, "bool")
    out = as_bool(conds[0], "tex.all")
    for c in conds[1:]:
        out = E.And(out, as_bool(c, "tex.all"), "bool")
    return out


def any(*conds: ExprLike) -> Expr:  # noqa: A001
    """The disjunction of conditions."""
    if not conds:
        return Const(False, "bool")
    out = as_bool(conds[0], "tex.any")
    for c in conds[1:]:
        out = E.Or(out, as_bool(c, "tex.any"), "bool")
    return out


def _float_call(name: str, *args: ExprLike) -> Expr:
    xs = [convert(a) for a in args]
    if len(xs) == 2:
        xs = list(E._operands(xs[0], xs[1]))
    if not dtypes.is_float(xs[0].dtype):
        if name == "abs":
            return E.Call("abs", (xs[0],), xs[0].dtype)
        raise TypeError(f"tex.{name}: expects a float expression, got {xs[0].dtype} `{xs[0]}` (cast it first)")
    return Call(name, tuple(xs), xs[0].dtype)


def exp(x: ExprLike) -> Expr:
    return _float_call("exp", x)


def log(x: ExprLike) -> Expr:
    return _float_call("log", x)


def sqrt(x: ExprLike) -> Expr:
    return _float_call("sqrt", x)


def rsqrt(x: ExprLike) -> Expr:
    return _float_call("rsqrt", x)


def tanh(x: ExprLike) -> Expr:
    return _float_call("tanh", x)


def sigmoid(x: ExprLike) -> Expr:
    return _float_call("sigmoid", x)


def erf(x: ExprLike) -> Expr:
    return _float_call("erf", x)


def abs(x: ExprLike) -> Expr:  # noqa: A001
    return _float_call("abs", x)


def floor(x: ExprLike) -> Expr:
    return _float_call("floor", x)


def ceil(x: ExprLike) -> Expr:
    return _float_call("ceil", x)


def round(x: ExprLike) -> Expr:  # noqa: A001
    """Round half to even, like numpy.round."""
    return _float_call("round", x)


def pow(x: ExprLike, y: ExprLike) -> Expr:  # noqa: A001
    return _float_call("pow", x, y)


def max_value(dtype: str) -> Const:
    """The largest finite value of `dtype`."""
    dtype = dtypes.check(dtype)
    return Const(dtypes.max_value(dtype), dtype)


def min_value(dtype: str) -> Const:
    """The smallest finite value of `dtype`."""
    dtype = dtypes.check(dtype)
    return Const(dtypes.min_value(dtype), dtype)
