"""Arithmetic with numpy's semantics on LLVM scalars and vectors: binary operators, division, casts.

    float  + - *        fadd/fsub/fmul with `contract` (a*b+c may become one FMA; nothing is reassociated)
    float  / // %       fdiv; floor(x / y); fmod moved into the divisor's sign (numpy's remainder)
    int    / // %       truncating / floor division (Python); x // 0 == x % 0 == 0 and INT_MIN // -1 wraps, as numpy
    min/max             NaN-propagating for floats (llvm.minimum/maximum), signed or unsigned for integers
    compare             ordered for floats except != (NaN != x), signed or unsigned for integers
    cast                numpy's astype: float -> int truncates toward zero, narrow ints wrap through int32
"""

from __future__ import annotations

from llvmlite import ir

from tex.lang import dtypes
from tex.lang import expr as E
from tex.targets.llvm import intrinsics as intr
from tex.targets.llvm.irutil import ir_type, lanes_of

FAST_MATH = ("contract",)  # lets LLVM fuse a*b+c into an FMA; no reassociation, results stay numpy-comparable
_CMP = {E.EQ: "==", E.NE: "!=", E.LT: "<", E.LE: "<=", E.GT: ">", E.GE: ">="}


def binop(b: ir.IRBuilder, cls: type, x: ir.Value, y: ir.Value, elem: str) -> ir.Value:
    """`x <cls> y` on scalars or vectors of element dtype `elem`, with numpy's semantics."""
    fl = dtypes.is_float(elem)
    signed = elem not in ("uint8", "bool")
    if cls is E.Add:
        return b.fadd(x, y, flags=FAST_MATH) if fl else b.add(x, y)
    if cls is E.Sub:
        return b.fsub(x, y, flags=FAST_MATH) if fl else b.sub(x, y)
    if cls is E.Mul:
        return b.fmul(x, y, flags=FAST_MATH) if fl else b.mul(x, y)
    if cls in (E.Div, E.FloorDiv, E.FloorMod):
        if fl:
            return float_div(b, cls, x, y)
        return int_div(b, cls, x, y, signed)
    if cls in (E.Min, E.Max):
        return intr.minmax(b, cls is E.Max, x, y, elem)
    if cls in _CMP:
        op = _CMP[cls]
        if fl:
            return b.fcmp_unordered(op, x, y) if cls is E.NE else b.fcmp_ordered(op, x, y)
        return b.icmp_signed(op, x, y) if signed else b.icmp_unsigned(op, x, y)
    if cls is E.And:
        return b.and_(x, y)
    if cls is E.Or:
        return b.or_(x, y)
    raise NotImplementedError(f"llvm: no lowering for {cls.__name__}")

def float_div(b: ir.IRBuilder, cls: type, x: ir.Value, y: ir.Value) -> ir.Value:
    if cls is E.Div:
        return b.fdiv(x, y)
    if cls is E.FloorDiv:
        return intr.call_intrinsic(b, "llvm.floor", [b.fdiv(x, y)])
    # numpy's remainder: fmod, then shifted into the divisor's sign; a zero takes the divisor's sign
    r = b.frem(x, y)
    zero = ir.Constant(x.type, None)
    fix = b.and_(b.fcmp_ordered("!=", r, zero),
                 b.xor(b.fcmp_ordered("<", r, zero), b.fcmp_ordered("<", y, zero)))
    r = b.select(fix, b.fadd(r, y), r)
    signed_zero = intr.call_intrinsic(b, "llvm.copysign", [zero, y])
    return b.select(b.fcmp_ordered("==", r, zero), signed_zero, r)

def int_div(b: ir.IRBuilder, cls: type, x: ir.Value, y: ir.Value, signed: bool) -> ir.Value:
    """Div truncates, FloorDiv/FloorMod round toward -inf (Python); x // 0 == x % 0 == 0 as in numpy."""
    t = x.type
    zero, one = ir.Constant(t, None), _splat_const(t, 1)
    c = const_value(y)
    if c is not None and not signed:
        c &= (1 << _width(t)) - 1
    if c is not None and c > 0:  # the cheap forms: the divisor is neither 0 nor -1
        if not signed:
            return b.urem(x, y) if cls is E.FloorMod else b.udiv(x, y)
        if cls is E.Div:
            return b.sdiv(x, y)
        if c & (c - 1) == 0:  # a power of two: shift and mask are exactly floor semantics
            if cls is E.FloorDiv:
                return b.ashr(x, _splat_const(t, c.bit_length() - 1))
            return b.and_(x, _splat_const(t, c - 1))
        r = b.srem(x, y)
        neg = b.icmp_signed("<", r, zero)
        if cls is E.FloorMod:
            return b.select(neg, b.add(r, y), r)
        return b.sub(b.sdiv(x, y), b.zext(neg, t))
    if not signed:
        is0 = b.icmp_unsigned("==", y, zero)
        ys = b.select(is0, one, y)
        q = b.urem(x, ys) if cls is E.FloorMod else b.udiv(x, ys)
        return b.select(is0, zero, q)
    minus1 = ir.Constant(t, [ir.Constant(t.element, -1)] * t.count) if isinstance(t, ir.VectorType) \
        else ir.Constant(t, -1)
    is0 = b.icmp_signed("==", y, zero)
    ism1 = b.icmp_signed("==", y, minus1)
    ys = b.select(b.or_(is0, ism1), one, y)  # x86 traps on / 0 and on INT_MIN / -1
    q, r = b.sdiv(x, ys), b.srem(x, ys)
    if cls is not E.Div:
        adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, y), zero))
        if cls is E.FloorMod:
            r = b.select(adjust, b.add(r, y), r)
            return b.select(b.or_(is0, ism1), zero, r)
        q = b.sub(q, b.zext(adjust, t))
    q = b.select(ism1, b.sub(zero, x), q)
    return b.select(is0, zero, q)


def cast(b: ir.IRBuilder, v: ir.Value, src: str, dst: str, f64_to_f16: bool = True) -> ir.Value:
    """numpy's astype between element dtypes, on a scalar or a vector.

    `f64_to_f16`: double -> half in one rounding (needs __truncdfhf2), else through float."""
    if src == dst:
        return v
    n = lanes_of(v)
    t = ir_type(dtypes.with_lanes(dst, n))
    if dst == "bool":
        if dtypes.is_float(src):
            return b.fcmp_unordered("!=", v, ir.Constant(v.type, None))  # NaN is True
        return b.icmp_unsigned("!=", v, ir.Constant(v.type, None))
    if dtypes.is_float(src) and dtypes.is_float(dst):
        if dtypes.bits(src) < dtypes.bits(dst):
            return b.fpext(v, t)
        if src == "float64" and dst == "float16" and not f64_to_f16:
            v = b.fptrunc(v, ir_type(dtypes.with_lanes("float32", n)))
        return b.fptrunc(v, t)
    if dtypes.is_float(src):  # truncate toward zero; narrow ints wrap through int32, as numpy on x86
        if dtypes.bits(dst) < 32:
            return b.trunc(b.fptosi(v, ir_type(dtypes.with_lanes("int32", n))), t)
        return b.fptosi(v, t)
    if dtypes.is_float(dst):
        return b.uitofp(v, t) if src in ("uint8", "bool") else b.sitofp(v, t)
    sb, db = dtypes.bits(src), dtypes.bits(dst)
    if db < sb:
        return b.trunc(v, t)
    if db > sb:
        return b.zext(v, t) if src in ("uint8", "bool") else b.sext(v, t)
    return v


def const_value(v: ir.Value) -> int | None:
    """The integer value of a constant (or splatted constant vector), else None."""
    if not isinstance(v, ir.Constant):
        return None
    c = v.constant
    if isinstance(c, list):
        vals = {x.constant for x in c if isinstance(x, ir.Constant)}
        if len(vals) != 1 or len(c) == 0:
            return None
        c = vals.pop()
    return c if isinstance(c, int) and not isinstance(c, bool) else None


def _width(t: ir.Type) -> int:
    return int(t.element.width if isinstance(t, ir.VectorType) else t.width)


def _splat_const(t: ir.Type, value: int) -> ir.Constant:
    if isinstance(t, ir.VectorType):
        return ir.Constant(t, [ir.Constant(t.element, value)] * t.count)
    return ir.Constant(t, value)
