"""Shared helpers of the operator library: static shapes, axes, broadcasting, scalar operands."""

from __future__ import annotations

from collections.abc import Sequence

from tex.lang import dtypes
from tex.lang import expr as E
from tex.lang.expr import Const, Expr
from tex.lang.tensor import Tensor

Scalar = int | float | bool
TensorOrScalar = Tensor | Scalar | Expr


def static_shape(x: Tensor, where: str) -> tuple[int, ...]:
    """The shape of `x` as ints; operators that need concrete sizes call this."""
    out = []
    for d, s in enumerate(x.shape):
        if not isinstance(s, int):
            raise NotImplementedError(f"{where}: tensor '{x.name}' dim {d} is symbolic ({s}); only static shapes are "
                                      "supported here")
        out.append(s)
    return tuple(out)


def dim_equal(a: int | Expr, b: int | Expr) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return E.structural_equal(E.convert(a), E.convert(b))


def is_one(d: int | Expr) -> bool:
    return (isinstance(d, int) and d == 1) or (isinstance(d, Const) and d.value == 1)


def normalize_axis(axis: int, ndim: int, where: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{where}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{where}: axis {axis} is out of range for a tensor of {ndim} dimensions")
    return axis % ndim if ndim else 0


def normalize_axes(axes: int | Sequence[int] | None, ndim: int, where: str) -> tuple[int, ...]:
    """Sorted, distinct, non-negative axes; None means all of them."""
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, int):
        axes = (axes,)
    out = sorted({normalize_axis(a, ndim, where) for a in axes})
    if len(out) != len(tuple(axes)):
        raise ValueError(f"{where}: axes must be distinct, got {tuple(axes)}")
    return tuple(out)


def broadcast_shape(shapes: Sequence[Sequence[int | Expr]], where: str) -> tuple[int | Expr, ...]:
    """numpy's broadcasting: align right, a dim of 1 stretches."""
    ndim = max((len(s) for s in shapes), default=0)
    out: list[int | Expr] = []
    for d in range(ndim):
        dim: int | Expr = 1
        for s in shapes:
            k = d - (ndim - len(s))
            if k < 0 or is_one(s[k]):
                continue
            if is_one(dim):
                dim = s[k]
            elif not dim_equal(dim, s[k]):
                shown = " and ".join(str(tuple(x)) for x in shapes)
                raise ValueError(f"{where}: shapes {shown} do not broadcast (dim {d}: {dim} vs {s[k]})")
        out.append(dim)
    return tuple(out)


def broadcast_index(x: Tensor, out_shape: Sequence[int | Expr], index: Sequence[Expr]) -> tuple[Expr, ...]:
    """The index into `x` of output element `index` under broadcasting to `out_shape`."""
    off = len(out_shape) - x.ndim
    return tuple(E.const(0, dtypes.INDEX) if is_one(s) and not is_one(out_shape[off + k]) else index[off + k]
                 for k, s in enumerate(x.shape))


def operand_dtype(xs: Sequence[TensorOrScalar]) -> str:
    """The common dtype of the operands; Python scalars take the tensors' dtype (as numpy's scalars do),
    except that a float scalar with integer tensors gives float32."""
    dts = [x.dtype for x in xs if isinstance(x, (Tensor, Expr))]
    out = dts[0] if dts else "float32"
    for d in dts[1:]:
        out = dtypes.promote(out, d)
    if not dtypes.is_float(out) and any(isinstance(x, float) for x in xs):
        out = "float32"
    if out == "bool" and any(isinstance(x, int) and not isinstance(x, bool) for x in xs):
        out = "int32"
    return out


def element(x: TensorOrScalar, out_shape: Sequence[int | Expr], index: Sequence[Expr], dtype: str) -> Expr:
    """Operand `x` at output `index`, cast to `dtype`."""
    if isinstance(x, Tensor):
        return E.cast(x[broadcast_index(x, out_shape, index)], dtype)
    if isinstance(x, Expr):
        return E.cast(x, dtype)
    if isinstance(x, (bool, int, float)):
        return E.const(x, dtype)
    raise TypeError(f"expected a tex Tensor or a Python number, got {type(x).__name__} {x!r}")


def as_tensor_check(x: object, where: str, arg: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: {arg} must be a tex Tensor, got {type(x).__name__}")
    return x


def shape_of(x: TensorOrScalar) -> tuple[int | Expr, ...]:
    return x.shape if isinstance(x, Tensor) else ()
