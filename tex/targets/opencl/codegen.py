"""OpenCL C from the loop IR: a subclass of the loop-IR printer (STYLE.md item 7).

Thread-bound loops become work-item ids: `for i in range(n):  # threadIdx.x` prints as
`int i = get_local_id(0);` (guarded by `i < n` when the launch is wider than the loop), blockIdx.* as
`get_group_id`. The launch geometry is the widest extent bound to each tag:

    global[d] = blocks[d] * threads[d],  local[d] = threads[d]    (d = 0, 1, 2 for x, y, z)

"local" allocations are private arrays, "shared" ones `__local` arrays hoisted to the kernel's top;
a barrier follows each statement of a block-level sequence that writes shared memory.

Cooperative fills (a shared stage computed inside the thread loops, see tex/schedule/lower.py): a threadIdx
loop nested in a loop bound to the same tag, whose body writes only shared memory, reuses the kernel's
`get_local_id` (each work-item copies its part of the tile), and the lowered `Barrier` nodes print as
`barrier(CLK_LOCAL_MEM_FENCE)`. Every work-item must reach a barrier: one under a condition on a thread
index (a guarded thread loop, a thread-dependent `if` or loop bound) is a BuildError.

Vector loops (`vectorize_cl`): a VECTORIZED loop with a constant extent of 2, 3, 4, 8 or 16 (or the guarded
tail `min(c, e)` of such a split) goes through the loop IR's own vectorize pass (Ramp/Broadcast nodes); when
the result is legal OpenCL vector code -- every Ramp a stride-1 last index of a load or store, element-wise
arithmetic and math calls only, no lane predicates, float32/int32/float64 elements -- it prints as `floatN`
values, `vloadN`/`vstoreN` (alignment-safe) and `(floatN)(x)` broadcasts. Any other vector loop is printed
as an unrolled scalar loop (`devectorize`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from tex.errors import BuildError
from tex.ir.nodes import (
    Allocate,
    Barrier,
    Broadcast,
    Buffer,
    BufferLoad,
    For,
    ForKind,
    IfThenElse,
    LetStmt,
    PrimFunc,
    Ramp,
    Seq,
    Stmt,
    Store,
)
from tex.ir.printer import IRPrinter
from tex.lang import expr as E
from tex.lang.functor import collect
from tex.lang.simplify import const_bounds

CL_TYPES = {
    "float32": "float", "float64": "double", "float16": "half", "int8": "char", "int16": "short",
    "int32": "int", "int64": "long", "uint8": "uchar", "bool": "uchar",
}
_TAGS = {"blockIdx.x": ("get_group_id", 0), "blockIdx.y": ("get_group_id", 1), "blockIdx.z": ("get_group_id", 2),
         "threadIdx.x": ("get_local_id", 0), "threadIdx.y": ("get_local_id", 1), "threadIdx.z": ("get_local_id", 2)}
_INFIX = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.Div: "/", E.EQ: "==", E.NE: "!=", E.LT: "<", E.LE: "<=",
          E.GT: ">", E.GE: ">=", E.And: "&&", E.Or: "||"}
_MATH = {"exp": "exp", "log": "log", "sqrt": "sqrt", "rsqrt": "rsqrt", "tanh": "tanh", "erf": "erf",
         "floor": "floor", "ceil": "ceil", "round": "rint", "pow": "pow"}
_ATOM = 10
_HELPERS = """\
inline int tex_fdiv_i32(int a, int b) { int q = a / b; return q - (((a % b) != 0) & ((a < 0) != (b < 0))); }
inline int tex_fmod_i32(int a, int b) { int r = a % b; return r + (((r != 0) & ((r < 0) != (b < 0))) ? b : 0); }
inline long tex_fdiv_i64(long a, long b) { long q = a / b; return q - (((a % b) != 0) & ((a < 0) != (b < 0))); }
inline long tex_fmod_i64(long a, long b) { long r = a % b; return r + (((r != 0) & ((r < 0) != (b < 0))) ? b : 0); }
"""


@dataclass(frozen=True)
class Launch:
    """Work-group counts and sizes per dimension (x, y, z); (1, 1, 1) each when nothing is bound."""

    blocks: tuple[int, int, int]
    threads: tuple[int, int, int]

    @property
    def global_size(self) -> tuple[int, ...]:
        return tuple(b * t for b, t in zip(self.blocks, self.threads))

    @property
    def local_size(self) -> tuple[int, ...]:
        return self.threads

    @property
    def work_group_size(self) -> int:
        return math.prod(self.threads)


def devectorize(func: PrimFunc) -> PrimFunc:
    """Vectorized loops as unrolled scalar loops (the OpenCL compiler vectorizes across work-items)."""
    from tex.lang.functor import Mutator

    class _Devec(Mutator):
        def visit_For(self, s: For) -> Stmt:
            body = self.visit(s.body)
            if s.kind is ForKind.VECTORIZED:
                return For(s.var, s.min, s.extent, ForKind.UNROLLED, body, s.thread_tag)
            return s if body is s.body else For(s.var, s.min, s.extent, s.kind, body, s.thread_tag)

    body = _Devec().visit(func.body)
    return func if body is func.body else PrimFunc(func.name, func.params, body, func.attrs)


CL_LANES = (2, 3, 4, 8, 16)
_CL_VEC_ELEMS = ("float32", "int32", "float64")
_CL_VEC_OPS = (E.Add, E.Sub, E.Mul, E.Div, E.Min, E.Max, E.Call, E.Var, E.Const, BufferLoad, Broadcast, Ramp)


def _cl_vector_ok(s: Stmt) -> bool:
    """Whether a vectorized statement prints as OpenCL vector code (see the module doc)."""
    from tex.lang import dtypes

    for n in collect(s, lambda n: isinstance(n, (BufferLoad, Store))):
        if n.indices and isinstance(n.indices[-1], Ramp):
            r = n.indices[-1]
            if not (isinstance(r.stride, E.Const) and r.stride.value == 1 and r.lanes in CL_LANES
                    and dtypes.lanes(r.base.dtype) == 1):
                return False
            if any(dtypes.lanes(i.dtype) != 1 for i in n.indices[:-1]):
                return False
            if n.buffer.dtype not in _CL_VEC_ELEMS:
                return False
            if isinstance(n, Store) and isinstance(n.value, Ramp):
                return False
        if isinstance(n, Store) and n.predicate is not None:
            return False
    for n in collect(s, lambda n: isinstance(n, E.Expr)):
        operands = (n.a, n.b) if isinstance(n, E.BinaryOp) else n.args if isinstance(n, E.Call) else ()
        if any(isinstance(x, Ramp) for x in operands):  # ramps only as indices
            return False
        if dtypes.lanes(n.dtype) > 1 and not isinstance(n, Ramp):
            if not isinstance(n, _CL_VEC_OPS) or dtypes.element(n.dtype) not in _CL_VEC_ELEMS:
                return False
            if isinstance(n, E.Call) and n.name not in (*_MATH, "abs", "sigmoid"):
                return False
    return True


def vectorize_cl(func: PrimFunc) -> PrimFunc:
    """Vector loops that OpenCL can express as `floatN` code, vectorized; others are left for `devectorize`."""
    from tex.ir.transform.vectorize import vectorize
    from tex.lang.functor import Mutator

    class _Vec(Mutator):
        def visit_For(self, s: For) -> Stmt:
            body = self.visit(s.body)
            if body is not s.body:
                s = For(s.var, s.min, s.extent, s.kind, body, s.thread_tag)
            if s.kind is not ForKind.VECTORIZED:
                return s
            n = const_upper(s.extent)
            if n not in CL_LANES or collect(s.body, lambda x: isinstance(x, For)):
                return s
            out = vectorize(PrimFunc("v", (), s, {})).body
            if collect(out, lambda x: isinstance(x, For) and x.kind is ForKind.VECTORIZED):
                return s
            return out if _cl_vector_ok(out) else s

    body = _Vec().visit(func.body)
    return func if body is func.body else PrimFunc(func.name, func.params, body, func.attrs)


def launch_geometry(func: PrimFunc) -> Launch:
    """The launch implied by the thread-bound loops; a tag bound twice on one path or with a non-constant
    extent, or blockIdx extents that disagree, raise BuildError naming the loop."""
    extents: dict[str, int] = {}

    ranges: dict[E.Var, tuple[E.Expr, E.Expr]] = {}  # var -> (min, extent), as the simplifier takes them

    def walk(s: Stmt, bound: tuple[str, ...]) -> None:
        if isinstance(s, For):
            ranges[s.var] = (s.min, s.extent)
            if s.kind is ForKind.THREAD_BINDING:
                tag = s.thread_tag
                if tag not in _TAGS:
                    raise BuildError(f"{func.name}: loop '{s.var.name}' is bound to unknown thread tag {tag!r}, "
                                     f"expected one of {', '.join(_TAGS)}")
                if tag in bound and not (tag.startswith("threadIdx") and _cooperative(s.body)):
                    raise BuildError(f"{func.name}: thread tag {tag} is bound twice on one loop path "
                                     f"(loop '{s.var.name}' inside another loop bound to {tag})")
                n = const_upper(s.extent)
                if n is None:
                    n = const_bounds(s.extent, ranges)[1]
                if n is None or not isinstance(s.min, E.Const):
                    raise BuildError(f"{func.name}: loop '{s.var.name}' bound to {tag} needs a constant extent, "
                                     f"got {s.extent}")
                old = extents.get(tag)
                if old is not None and old != n and tag.startswith("blockIdx"):
                    raise BuildError(f"{func.name}: {tag} is bound to loops of different extents ({old} and {n}, "
                                     f"loop '{s.var.name}')")
                extents[tag] = max(n, old or 0)
                bound = (*bound, tag)
            walk(s.body, bound)
        elif isinstance(s, Seq):
            for x in s.stmts:
                walk(x, bound)
        elif isinstance(s, IfThenElse):
            walk(s.then_body, bound)
            if s.else_body is not None:
                walk(s.else_body, bound)
        elif isinstance(s, (Allocate, LetStmt)):
            walk(s.body, bound)

    walk(func.body, ())
    blocks = tuple(extents.get(f"blockIdx.{a}", 1) for a in "xyz")
    threads = tuple(extents.get(f"threadIdx.{a}", 1) for a in "xyz")
    return Launch(blocks, threads)  # type: ignore[arg-type]


def const_upper(e: E.Expr) -> int | None:
    """A constant upper bound of a loop extent: the extent itself, or the constant side of a tail's min()."""
    if isinstance(e, E.Const):
        return int(e.value)
    if isinstance(e, E.Min):
        bounds = [b for b in (const_upper(e.a), const_upper(e.b)) if b is not None]
        return min(bounds) if bounds else None
    return None


def _cooperative(s: Stmt) -> bool:
    """A work-group's cooperative fill: it stores, and only into shared memory."""
    stores = collect(s, lambda n: isinstance(n, Store))
    return bool(stores) and all(x.buffer.scope == "shared" for x in stores)


def _writes_shared(s: Stmt) -> bool:
    return bool(collect(s, lambda n: isinstance(n, Store) and n.buffer.scope == "shared"))


def _reads_shared(s: Stmt) -> bool:
    return bool(collect(s, lambda n: isinstance(n, BufferLoad) and n.buffer.scope == "shared"))


def _has_thread_loop(s: Stmt) -> bool:
    return bool(collect(s, lambda n: isinstance(n, For) and n.kind is ForKind.THREAD_BINDING
                        and n.thread_tag.startswith("threadIdx")))


def _multiple_of(e: E.Expr, n: int) -> bool:
    if isinstance(e, E.Const):
        return int(e.value) % n == 0
    if isinstance(e, (E.Add, E.Sub)):
        return _multiple_of(e.a, n) and _multiple_of(e.b, n)
    if isinstance(e, E.Mul):
        return _multiple_of(e.a, n) or _multiple_of(e.b, n)
    return False


def _vector_private_buffers(body: Stmt) -> dict[int, int]:
    """Private ("local") buffers accessed only by aligned stride-1 vectors of one width: id -> lanes. They are
    declared as arrays of floatN, which the OpenCL compiler keeps in vector registers."""
    out: dict[int, int] = {}
    for a in collect(body, lambda n: isinstance(n, Allocate) and n.buffer.scope == "local"):
        b = a.buffer
        if not b.shape or not isinstance(b.shape[-1], E.Const):
            continue
        uses = collect(a.body, lambda n, b=b: isinstance(n, (BufferLoad, Store)) and n.buffer is b)
        lanes = {n.indices[-1].lanes if n.indices and isinstance(n.indices[-1], Ramp) else 0 for n in uses}
        if len(lanes) != 1 or 0 in lanes:
            continue
        n = lanes.pop()
        if int(b.shape[-1].value) % n == 0 and all(_multiple_of(u.indices[-1].base, n) for u in uses):
            out[id(b)] = n
    return out


class OpenCLPrinter(IRPrinter):
    """Prints one PrimFunc as one `__kernel`; `extra` are shape variables passed after the parameters."""

    def __init__(self, func: PrimFunc, launch: Launch, extra: tuple[E.Var, ...] = ()) -> None:
        super().__init__()
        self.func, self.launch, self.extra = func, launch, extra
        self._names: dict[int, str] = {}
        self._used: set[str] = set(_RESERVED)  # a buffer named exp would hide the built-in exp()
        self._shared: list[Buffer] = []
        self._vec_bufs = _vector_private_buffers(func.body)  # id(buffer) -> lanes: declared as floatN arrays
        self._thread_vars: set[int] = set()  # ids of variables that differ between the work-items of a group
        self._divergent: list[str] = []  # the thread-dependent conditions around the statement being printed

    # ---------------------------------------------------------------- names and types
    def name(self, obj: E.Var | Buffer) -> str:
        key = id(obj)
        if key not in self._names:
            base = re.sub(r"\W", "_", obj.name) or "v"
            if base[0].isdigit():
                base = "v" + base
            text, n = base, 1
            while text in self._used:
                n += 1
                text = f"{base}_{n}"
            self._used.add(text)
            self._names[key] = text
        return self._names[key]

    @staticmethod
    def ctype(dtype: str) -> str:
        if "x" in dtype:
            base, n = dtype.split("x")
            return OpenCLPrinter.ctype(base) + n
        if dtype not in CL_TYPES:
            raise BuildError(f"OpenCL codegen: dtype {dtype!r} is not supported")
        return CL_TYPES[dtype]

    def flat(self, b: Buffer, indices: tuple[E.Expr, ...]) -> str:
        if not indices:
            return "0"
        text = self.expr(indices[0])
        for dim, idx in zip(b.shape[1:], indices[1:]):
            text = f"({text}) * {self._wrap(dim, _ATOM)} + {self._wrap(idx, 7)}"
        return text

    # ---------------------------------------------------------------- expressions
    def p_Const(self, e: E.Const) -> tuple[str, int]:
        v = e.value
        if e.dtype == "bool":
            return ("1" if v else "0"), _ATOM
        if isinstance(v, float) or e.dtype.startswith("float"):
            v = float(v)
            if math.isnan(v):
                text = "NAN"
            elif math.isinf(v):
                text = "INFINITY" if v > 0 else "(-INFINITY)"
            else:
                text = repr(v) if e.dtype == "float64" else f"{v!r}f"
            return (f"(({self.ctype(e.dtype)}){text})" if e.dtype == "float16" else text), _ATOM
        text = f"{v}L" if e.dtype == "int64" and not -2**31 <= v < 2**31 else str(v)  # index constants stay int
        return (f"(({self.ctype(e.dtype)}){text})" if e.dtype not in ("int32", "int64") else
                (text if v >= 0 else f"({text})")), _ATOM

    def p_Var(self, e: E.Var) -> tuple[str, int]:
        return self.name(e), _ATOM

    def p_BinaryOp(self, e: E.BinaryOp) -> tuple[str, int]:
        a, b = self.expr(e.a), self.expr(e.b)
        is_float = e.a.dtype.startswith("float")
        if type(e) in (E.Min, E.Max):
            fn = ("fmin" if type(e) is E.Min else "fmax") if is_float else type(e).__name__.lower()
            t = self.ctype(e.dtype)
            return f"{fn}(({t})({a}), ({t})({b}))", _ATOM  # one type: mixed int/long is ambiguous in OpenCL
        if type(e) in (E.FloorDiv, E.FloorMod):
            if is_float:
                q = f"floor(({a}) / ({b}))"
                return (q if type(e) is E.FloorDiv else f"(({a}) - {q} * ({b}))"), _ATOM
            bits = "i64" if e.a.dtype == "int64" else "i32"
            fn = "tex_fdiv" if type(e) is E.FloorDiv else "tex_fmod"
            t = self.ctype(e.dtype)
            return f"{fn}_{bits}(({t})({a}), ({t})({b}))", _ATOM
        return f"({a} {_INFIX[type(e)]} {b})", _ATOM

    def p_Not(self, e: E.Not) -> tuple[str, int]:
        return f"(!{self.expr(e.a)})", _ATOM

    def p_Select(self, e: E.Select) -> tuple[str, int]:
        return f"({self.expr(e.cond)} ? {self.expr(e.true_value)} : {self.expr(e.false_value)})", _ATOM

    def p_Cast(self, e: E.Cast) -> tuple[str, int]:
        if e.dtype == "bool":
            return f"(({self.expr(e.value)}) != 0)", _ATOM
        return f"(({self.ctype(e.dtype)})({self.expr(e.value)}))", _ATOM

    def p_Call(self, e: E.Call) -> tuple[str, int]:
        args = [self.expr(a) for a in e.args]
        if e.name == "abs":
            if e.dtype.startswith("float"):
                return f"fabs({args[0]})", _ATOM
            return f"(({self.ctype(e.dtype)})abs({args[0]}))", _ATOM
        if e.name == "sigmoid":
            one = "1.0" if e.dtype == "float64" else "1.0f"
            return f"({one} / ({one} + exp(-({args[0]}))))", _ATOM
        if e.name not in _MATH:
            raise BuildError(f"OpenCL codegen: math function {e.name!r} is not supported")
        return f"{_MATH[e.name]}({', '.join(args)})", _ATOM

    def p_Let(self, e: E.Let) -> tuple[str, int]:
        raise NotImplementedError(f"OpenCL codegen: let-expressions ({e.var.name}) are not supported yet")

    def p_BufferLoad(self, e: BufferLoad) -> tuple[str, int]:
        if e.indices and isinstance(e.indices[-1], Ramp):
            r = e.indices[-1]
            if not (isinstance(r.stride, E.Const) and r.stride.value == 1):
                raise NotImplementedError(f"OpenCL codegen: strided vector load of '{e.buffer.name}'")
            off = self.flat(e.buffer, (*e.indices[:-1], r.base))
            if id(e.buffer) in self._vec_bufs:
                return f"{self.name(e.buffer)}[({off}) / {r.lanes}]", _ATOM
            return f"vload{r.lanes}(0, {self.name(e.buffer)} + {off})", _ATOM
        text = f"{self.name(e.buffer)}[{self.flat(e.buffer, e.indices)}]"
        return (f"(({text}) != 0)" if e.buffer.dtype == "bool" else text), _ATOM

    def p_Ramp(self, e: Ramp) -> tuple[str, int]:
        raise NotImplementedError("OpenCL codegen: vector ramps are supported only as the last index of a "
                                  "load or store")

    def p_Broadcast(self, e: Broadcast) -> tuple[str, int]:
        return f"(({self.ctype(e.dtype)})({self.expr(e.value)}))", _ATOM

    # ---------------------------------------------------------------- statements
    def stmt(self, s: Stmt, indent: int, out: list[str], in_thread: bool = False) -> None:  # type: ignore[override]
        pad = "  " * indent
        if isinstance(s, Seq):
            for n, x in enumerate(s.stmts):
                self.stmt(x, indent, out, in_thread)
                if not in_thread and n + 1 < len(s.stmts) and _writes_shared(x):
                    out.append(f"{pad}barrier(CLK_LOCAL_MEM_FENCE);")
        elif isinstance(s, For):
            v = self.name(s.var)
            if s.kind is ForKind.THREAD_BINDING:
                fn, dim = _TAGS[s.thread_tag]
                n = const_upper(s.extent) if isinstance(s.extent, E.Const) else -1
                full = (self.launch.blocks if fn == "get_group_id" else self.launch.threads)[dim]
                lo = self.expr(s.min)
                start = f"(int){fn}({dim})" + ("" if lo == "0" else f" + {lo}")
                out.append(f"{pad}{{  // {s.thread_tag}")
                out.append(f"{pad}  int {v} = {start};")
                inner = in_thread or s.thread_tag.startswith("threadIdx")
                if inner:
                    self._thread_vars.add(id(s.var))
                if n is None or n < full:
                    cond = f"{v} < {self.expr(s.min + s.extent)}"
                    out.append(f"{pad}  if ({cond}) {{")
                    self._branch(s.body, indent + 2, out, inner, cond if inner else None)
                    out.append(f"{pad}  }}")
                else:
                    self.stmt(s.body, indent + 1, out, inner)
                out.append(f"{pad}}}")
                return
            if s.kind is ForKind.UNROLLED:
                out.append(f"{pad}#pragma unroll")
            lo, hi = self.expr(s.min), self.expr(s.min + s.extent)
            ity = self.ctype(s.var.dtype)
            out.append(f"{pad}for ({ity} {v} = {lo}; {v} < {hi}; ++{v}) {{")
            varying = self._varies(s.min) or self._varies(s.extent)
            if varying:
                self._thread_vars.add(id(s.var))
            self._branch(s.body, indent + 1, out, in_thread, f"{v} < {hi}" if varying else None)
            if not in_thread and _writes_shared(s.body) and _reads_shared(s.body) and _has_thread_loop(s.body):
                out.append(f"{pad}  barrier(CLK_LOCAL_MEM_FENCE);")  # before the next iteration overwrites it
            out.append(f"{pad}}}")
        elif isinstance(s, Store):
            if s.indices and isinstance(s.indices[-1], Ramp):
                r = s.indices[-1]
                if not (isinstance(r.stride, E.Const) and r.stride.value == 1) or s.predicate is not None:
                    raise NotImplementedError(f"OpenCL codegen: strided or predicated vector store to "
                                              f"'{s.buffer.name}'")
                off = self.flat(s.buffer, (*s.indices[:-1], r.base))
                if id(s.buffer) in self._vec_bufs:
                    out.append(f"{pad}{self.name(s.buffer)}[({off}) / {r.lanes}] = {self.expr(s.value)};")
                    return
                out.append(f"{pad}vstore{r.lanes}({self.expr(s.value)}, 0, {self.name(s.buffer)} + {off});")
                return
            value = self.expr(s.value)
            if s.buffer.dtype == "bool":
                value = f"(uchar)(({value}) != 0)"
            line = f"{self.name(s.buffer)}[{self.flat(s.buffer, s.indices)}] = {value};"
            if s.predicate is not None:
                line = f"if ({self.expr(s.predicate)}) {line}"
            out.append(pad + line)
        elif isinstance(s, IfThenElse):
            cond = self.expr(s.cond)
            out.append(f"{pad}if ({cond}) {{")
            varying = cond if self._varies(s.cond) else None
            self._branch(s.then_body, indent + 1, out, in_thread, varying)
            if s.else_body is not None:
                out.append(f"{pad}}} else {{")
                self._branch(s.else_body, indent + 1, out, in_thread, varying)
            out.append(f"{pad}}}")
        elif isinstance(s, Allocate):
            b = s.buffer
            size = math.prod(int(d.value) if isinstance(d, E.Const) else -1 for d in b.shape)
            if size < 0:
                raise BuildError(f"{self.func.name}: allocation '{b.name}' ({b.scope}) needs a constant shape, "
                                 f"got ({', '.join(map(str, b.shape))})")
            if b.scope == "shared":
                self._shared.append(b)  # one per work-group: lowering relaxed its region over the thread loops
            elif id(b) in self._vec_bufs:
                lanes = self._vec_bufs[id(b)]
                out.append(f"{pad}{self.ctype(b.dtype)}{lanes} {self.name(b)}[{max(size // lanes, 1)}];")
            else:
                out.append(f"{pad}{self.ctype(b.dtype)} {self.name(b)}[{max(size, 1)}];")
            self.stmt(s.body, indent, out, in_thread)
        elif isinstance(s, LetStmt):
            out.append(f"{pad}const {self.ctype(s.var.dtype)} {self.name(s.var)} = {self.expr(s.value)};")
            if self._varies(s.value):
                self._thread_vars.add(id(s.var))
            self.stmt(s.body, indent, out, in_thread)
        elif isinstance(s, Barrier):
            if self._divergent:
                raise BuildError(f"{self.func.name}: a work-group barrier sits under the thread-dependent condition "
                                 f"'{self._divergent[-1]}', so some work-items would skip it; give the shared "
                                 "stage's threadIdx copy loops the extents of the compute's thread loops")
            out.append(f"{pad}barrier(CLK_LOCAL_MEM_FENCE);")
        else:
            raise BuildError(f"OpenCL codegen: statement {type(s).__name__} is not supported")

    def _varies(self, e: E.Expr) -> bool:
        """Whether `e` can differ between the work-items of one group."""
        return any(id(v) in self._thread_vars for v in collect(e, lambda n: isinstance(n, E.Var)))

    def _branch(self, s: Stmt, indent: int, out: list[str], in_thread: bool, cond: str | None) -> None:
        """Print `s`, remembering `cond` (when not None) as a thread-dependent condition around it."""
        if cond is not None:
            self._divergent.append(cond)
        self.stmt(s, indent, out, in_thread)
        if cond is not None:
            self._divergent.pop()

    def kernel(self) -> str:
        f = self.func
        written = {id(s.buffer) for s in collect(f.body, lambda n: isinstance(n, Store))}
        params = []
        for p in f.params:
            if isinstance(p, Buffer):
                const = "" if id(p) in written else "const "
                params.append(f"__global {const}{self.ctype(p.dtype)}* restrict {self.name(p)}")
            else:
                params.append(f"const {self.ctype(p.dtype)} {self.name(p)}")
        params += [f"const {self.ctype(v.dtype)} {self.name(v)}" for v in self.extra]
        body: list[str] = []
        self.stmt(f.body, 1, body)
        shared = [f"  __local {self.ctype(b.dtype)} {self.name(b)}[{math.prod(int(d.value) for d in b.shape)}];"
                  for b in self._shared]  # type: ignore[attr-defined]
        uses_half = any(p.dtype == "float16" for p in f.params) or "half" in "\n".join(body)
        head = "#pragma OPENCL EXTENSION cl_khr_fp16 : enable\n" if uses_half else ""
        uses_f64 = "double" in "\n".join(body) or any(p.dtype == "float64" for p in f.params)
        head += "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n" if uses_f64 else ""
        lsize = ", ".join(map(str, self.launch.threads))
        attr = f"__attribute__((reqd_work_group_size({lsize})))\n"
        sig = f"__kernel {attr}void {self.name_kernel()}({', '.join(params)}) {{"
        return "\n".join([head + _HELPERS, sig, *shared, *body, "}", ""])

    def name_kernel(self) -> str:
        name = re.sub(r"\W", "_", self.func.name)
        # OpenCL forbids a kernel called main, and a kernel named like a built-in function or a keyword
        # shadows it (the program builds, but the kernel cannot be found)
        return f"tex_{name}" if name in _RESERVED or name[:1].isdigit() or name.startswith("__") else name


# names a kernel may not take: main, C/OpenCL keywords and types, and OpenCL C built-in functions
_RESERVED = frozenset("""
main kernel __kernel global local constant private read_only write_only read_write restrict const volatile
int uint float double half char uchar short ushort long ulong bool void size_t ptrdiff_t sizeof return if else
for while do switch case default break continue goto struct union enum typedef static extern inline
abs abs_diff acos acosh acospi add_sat asin asinh asinpi atan atan2 atan2pi atanh atanpi barrier bitselect
cbrt ceil clamp clz copysign cos cosh cospi cross degrees distance dot erf erfc exp exp10 exp2 expm1 fabs
fast_distance fast_length fast_normalize fdim floor fma fmax fmin fmod fract frexp get_global_id
get_global_offset get_global_size get_group_id get_local_id get_local_size get_num_groups get_work_dim hadd
hypot ilogb isequal isfinite isgreater isinf isless isnan isnormal ldexp length lgamma log log10 log1p log2
logb mad mad24 mad_hi mad_sat max mem_fence min mix modf mul24 mul_hi nan native_cos native_exp native_log
native_sin native_sqrt nextafter normalize popcount pow pown powr printf radians remainder remquo rhadd
rint rootn rotate round rsqrt select sign signbit sin sincos sinh sinpi smoothstep sqrt step sub_sat tan
tanh tanpi tgamma trunc upsample vload2 vload4 vload8 vload16 vstore2 vstore4 vstore8 vstore16
""".split()) | {"tex_fdiv_i32", "tex_fmod_i32"}


def codegen(func: PrimFunc, extra: tuple[E.Var, ...] = ()) -> tuple[str, Launch]:
    """OpenCL C source of `func` and its launch geometry."""
    launch = launch_geometry(func)
    return OpenCLPrinter(func, launch, extra).kernel(), launch
