"""LLVM intrinsics and libm calls: math functions, min/max, masked and gathered memory access.

Math follows numpy: `round` is half-to-even (`llvm.roundeven`), min/max propagate NaN (`llvm.minimum`),
float16 math is computed in float32 and rounded once. Functions with an LLVM intrinsic use it in
scalar and vector form (LLVM scalarizes to libm where the CPU has no instruction); the rest (`erf`) call
libm lane by lane. Vector exp/log/tanh/erf/pow use libmvec when it is there (vecmath.py).
"""

from __future__ import annotations

from llvmlite import ir

from tex.lang import dtypes
from tex.targets.llvm import vecmath
from tex.targets.llvm.irutil import I1, I32, lanes_of

# name -> LLVM intrinsic taking and returning one float type
_FLOAT_INTRINSIC = {
    "exp": "llvm.exp", "log": "llvm.log", "sqrt": "llvm.sqrt", "abs": "llvm.fabs", "floor": "llvm.floor",
    "ceil": "llvm.ceil", "round": "llvm.roundeven", "pow": "llvm.pow", "tanh": "llvm.tanh",
}
# name -> libm function for (float, double)
_LIBM = {"erf": ("erff", "erf")}


def suffix(t: ir.Type) -> str:
    """The overload suffix LLVM mangles into intrinsic names: f32, v8f32, i64, p0, v8p0."""
    if isinstance(t, ir.VectorType):
        return f"v{t.count}{suffix(t.element)}"
    if isinstance(t, ir.HalfType):
        return "f16"
    if isinstance(t, ir.FloatType):
        return "f32"
    if isinstance(t, ir.DoubleType):
        return "f64"
    if isinstance(t, ir.IntType):
        return f"i{t.width}"
    if isinstance(t, ir.PointerType):
        return "p0"
    raise TypeError(f"no intrinsic suffix for {t}")


def declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """The function `name` of `module`, declared on first use."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name)
    return fn


def call_intrinsic(b: ir.IRBuilder, base: str, args: list[ir.Value], extra: list[ir.Value] = ()) -> ir.Value:
    """`base.<suffix of args[0]>(args..., extra...)`, returning args[0]'s type."""
    t = args[0].type
    fn = declare(b.module, f"{base}.{suffix(t)}", t, [a.type for a in args] + [e.type for e in extra])
    return b.call(fn, [*args, *extra])


def float32_of(t: ir.Type) -> ir.Type:
    if isinstance(t, ir.VectorType):
        return ir.VectorType(ir.FloatType(), t.count)
    return ir.FloatType()


def _is_half(t: ir.Type) -> bool:
    return isinstance(t.element if isinstance(t, ir.VectorType) else t, ir.HalfType)


def _is_double(t: ir.Type) -> bool:
    return isinstance(t.element if isinstance(t, ir.VectorType) else t, ir.DoubleType)


def math_call(b: ir.IRBuilder, name: str, args: list[ir.Value], elem: str,
              vm: vecmath.VectorMath | None = None) -> ir.Value:
    """The math function `name` (tex.lang.expr.MATH_FUNCTIONS) on scalar or vector arguments of dtype `elem`.

    With `vm`, vector exp/log/tanh/erf/pow go to libmvec (see vecmath)."""
    if not dtypes.is_float(elem):
        if name != "abs":
            raise NotImplementedError(f"llvm: math function {name!r} on {elem}")
        if elem in ("uint8", "bool"):
            return args[0]
        return call_intrinsic(b, "llvm.abs", [args[0]], [ir.Constant(I1, 0)])
    t = args[0].type
    if _is_half(t):  # compute in float32, round once
        wide = float32_of(t)
        out = math_call(b, name, [b.fpext(a, wide) for a in args], "float32", vm)
        return b.fptrunc(out, t)
    if vm is not None and isinstance(t, ir.VectorType):
        out = vecmath.call(b, vm, name, args)
        if out is not None:
            return out
    if name in _FLOAT_INTRINSIC:
        return call_intrinsic(b, _FLOAT_INTRINSIC[name], args)
    one = ir.Constant(t.element if isinstance(t, ir.VectorType) else t, 1.0)
    ones = ir.Constant(t, [one] * t.count) if isinstance(t, ir.VectorType) else one
    if name == "rsqrt":
        return b.fdiv(ones, call_intrinsic(b, "llvm.sqrt", args))
    if name == "sigmoid":  # 1 / (1 + exp(-x))
        e = math_call(b, "exp", [b.fneg(args[0])], elem, vm)
        return b.fdiv(ones, b.fadd(ones, e))
    if name in _LIBM:
        fname = _LIBM[name][1 if _is_double(t) else 0]
        st = t.element if isinstance(t, ir.VectorType) else t
        fn = declare(b.module, fname, st, [st])
        if not isinstance(t, ir.VectorType):
            return b.call(fn, args)
        out = ir.Constant(t, None)
        for k in range(t.count):
            lane = b.call(fn, [b.extract_element(args[0], I32(k))])
            out = b.insert_element(out, lane, I32(k))
        return out
    raise NotImplementedError(f"llvm: unknown math function {name!r}")


def minmax(b: ir.IRBuilder, is_max: bool, x: ir.Value, y: ir.Value, elem: str) -> ir.Value:
    """numpy's minimum/maximum: NaN-propagating for floats, signed/unsigned for integers."""
    if dtypes.is_float(elem):
        return call_intrinsic(b, "llvm.maximum" if is_max else "llvm.minimum", [x, y])
    signed = elem not in ("uint8", "bool")
    op = ("llvm.smax" if is_max else "llvm.smin") if signed else ("llvm.umax" if is_max else "llvm.umin")
    return call_intrinsic(b, op, [x, y])


# ---------------------------------------------------------------- masked and gathered memory access

def vector_gep(b: ir.IRBuilder, base: ir.Value, offsets: ir.Value) -> ir.Value:
    """`getelementptr T, T* base, <n x i64> offsets` -> <n x T*> (llvmlite types it as a scalar pointer)."""
    elem = base.type.pointee
    g = b.gep(base, [offsets], source_etype=elem)
    g.type = ir.VectorType(base.type, lanes_of(offsets))
    return g


def masked_load(b: ir.IRBuilder, ptr: ir.Value, vt: ir.VectorType, align: int, mask: ir.Value) -> ir.Value:
    """Load the lanes of `vt` at `ptr` (an element pointer) where `mask` holds; other lanes are 0."""
    vp = b.bitcast(ptr, vt.as_pointer())
    fn = declare(b.module, f"llvm.masked.load.{suffix(vt)}.p0", vt,
                 [vp.type, I32, ir.VectorType(I1, vt.count), vt])
    return b.call(fn, [vp, I32(align), mask, ir.Constant(vt, None)])


def masked_store(b: ir.IRBuilder, value: ir.Value, ptr: ir.Value, align: int, mask: ir.Value) -> None:
    vt = value.type
    vp = b.bitcast(ptr, vt.as_pointer())
    fn = declare(b.module, f"llvm.masked.store.{suffix(vt)}.p0", ir.VoidType(),
                 [vt, vp.type, I32, ir.VectorType(I1, vt.count)])
    b.call(fn, [value, vp, I32(align), mask])


def gather(b: ir.IRBuilder, ptrs: ir.Value, vt: ir.VectorType, align: int, mask: ir.Value) -> ir.Value:
    fn = declare(b.module, f"llvm.masked.gather.{suffix(vt)}.v{vt.count}p0", vt,
                 [ptrs.type, I32, ir.VectorType(I1, vt.count), vt])
    return b.call(fn, [ptrs, I32(align), mask, ir.Constant(vt, None)])


def scatter(b: ir.IRBuilder, value: ir.Value, ptrs: ir.Value, align: int, mask: ir.Value) -> None:
    vt = value.type
    fn = declare(b.module, f"llvm.masked.scatter.{suffix(vt)}.v{vt.count}p0", ir.VoidType(),
                 [vt, ptrs.type, I32, ir.VectorType(I1, vt.count)])
    b.call(fn, [value, ptrs, I32(align), mask])
