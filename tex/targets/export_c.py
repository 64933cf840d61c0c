"""The C side of an exported library: the header, DLTensor entries, `*_last_error`, the metadata symbol.

For a kernel `gemm(A, B, C)` with float32 buffers the library exports

    int gemm(const float* A, const float* B, float* C);          // the LLVM entry itself
    int gemm_dl(DLTensor* A, DLTensor* B, DLTensor* C);          // checks device, dtype, shape, strides
    const char* gemm_last_error(void);                           // this thread's last error message

Return codes: 0 ok, -1 a temporary buffer could not be allocated, -2 a bad DLTensor argument. Shape
variables that are not parameters trail the plain entry as int scalars; the DLTensor entry binds them
from the tensors' shapes. `tex_metadata` holds the JSON `load_module` rebuilds the Python checks from.
"""

from __future__ import annotations

from dataclasses import dataclass

from tex.lang import dtypes
from tex.lang.expr import Add, Cast, Const, Expr, FloorDiv, FloorMod, Max, Min, Mul, Sub, Var

# dtype -> (C element type, DLPack type code, bits)
C_TYPES: dict[str, tuple[str, int, int]] = {
    "int8": ("int8_t", 0, 8), "int16": ("int16_t", 0, 16), "int32": ("int32_t", 0, 32), "int64": ("int64_t", 0, 64),
    "uint8": ("uint8_t", 1, 8), "bool": ("uint8_t", 6, 8), "float16": ("uint16_t", 2, 16),
    "float32": ("float", 2, 32), "float64": ("double", 2, 64),
}
_C_SCALAR = {**{k: v[0] for k, v in C_TYPES.items()}, "float16": "float", "bool": "uint8_t"}
_C_OPS: dict[type, str] = {Add: "+", Sub: "-", Mul: "*"}

DLPACK_DEFS = """\
#if !defined(DLPACK_VERSION) && !defined(DLPACK_MAJOR_VERSION) && !defined(TEX_DLTENSOR_DEFINED)
#define TEX_DLTENSOR_DEFINED
/* The layout of dlpack.h's DLTensor (include dlpack.h first to use its definitions instead). */
typedef struct { int32_t device_type; int32_t device_id; } DLDevice;  /* kDLCPU = 1 */
/* code: kDLInt 0, kDLUInt 1, kDLFloat 2, kDLBool 6 */
typedef struct { uint8_t code; uint8_t bits; uint16_t lanes; } DLDataType;
typedef struct {
  void* data; DLDevice device; int32_t ndim; DLDataType dtype;
  int64_t* shape; int64_t* strides; uint64_t byte_offset;
} DLTensor;
#endif
"""

RUNTIME_C = r"""
#include <stdarg.h>
#include <stdio.h>
static __thread char tex_err[512];
static int tex_fail(const char* fmt, ...) {
  va_list ap; va_start(ap, fmt); vsnprintf(tex_err, sizeof tex_err, fmt, ap); va_end(ap); return -2;
}
static const char* tex_shape_str(const DLTensor* t, char* buf, size_t n) {
  size_t k = 0; k += (size_t)snprintf(buf + k, n - k, "(");
  for (int i = 0; i < t->ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
  if (k < n) snprintf(buf + k, n - k, t->ndim == 1 ? ",)" : ")");
  return buf;
}
static int64_t tex_floordiv(int64_t a, int64_t b) {
  if (!b) return 0;
  int64_t q = a / b;
  return (a % b && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static int64_t tex_floormod(int64_t a, int64_t b) { return b ? a - tex_floordiv(a, b) * b : 0; }
static int64_t tex_min(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t tex_max(int64_t a, int64_t b) { return a > b ? a : b; }
/* device, dtype, rank and dense row-major strides; shape values are checked by the caller */
static int tex_check(const DLTensor* t, const char* where, const char* shape_text, int ndim,
                     int code, int bits, const char* dtype) {
  char buf[160];
  if (!t) return tex_fail("%s is NULL", where);
  if (t->device.device_type != 1)
    return tex_fail("%s must be on the CPU (kDLCPU), got device type %d", where, (int)t->device.device_type);
  int ok = t->dtype.code == code && t->dtype.bits == bits && t->dtype.lanes == 1;
  if (code == 6 && t->dtype.code == 1 && t->dtype.bits == 8 && t->dtype.lanes == 1) ok = 1;  /* bool as uint8 */
  if (!ok) return tex_fail("%s must have dtype %s, got DLDataType(code=%d, bits=%d, lanes=%d)", where, dtype,
                           (int)t->dtype.code, (int)t->dtype.bits, (int)t->dtype.lanes);
  if (t->ndim != ndim) return tex_fail("%s must have shape %s (%d dimensions), got %s", where, shape_text, ndim,
                                       tex_shape_str(t, buf, sizeof buf));
  if (!t->data) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= t->shape[i];
    if (n) return tex_fail("%s has a NULL data pointer", where);
  }
  if (t->strides) {
    int64_t expect = 1;
    for (int i = ndim - 1; i >= 0; i--) {
      if (t->shape[i] != 1 && t->strides[i] != expect)
        return tex_fail("%s must be C-contiguous (row-major, dense), got strides (in elements) %lld at "
                        "dimension %d, expected %lld", where, (long long)t->strides[i], i, (long long)expect);
      expect *= t->shape[i];
    }
  }
  if (((uintptr_t)((char*)t->data + t->byte_offset)) % (uintptr_t)(bits / 8 ? bits / 8 : 1))
    return tex_fail("%s must be aligned to its %d-byte element size", where, bits / 8);
  return 0;
}
"""


@dataclass(frozen=True)
class KernelSig:
    """What the C side needs about one kernel: names and parameter kinds, in entry order."""

    name: str
    symbol: str
    params: tuple[tuple[str, str, tuple[int | Expr, ...] | None, bool], ...]  # (name, dtype, shape or None, written)
    scalar_vars: tuple[Var | None, ...]   # per param: the Var of a scalar parameter, else None
    extra: tuple[Var, ...]


def c_string(text: str) -> str:
    """`text` as a C string literal (split over lines)."""
    out, line = [], []
    for ch in text.encode():
        c = chr(ch)
        line.append("\\\\" if c == "\\" else '\\"' if c == '"' else c if 32 <= ch < 127 else f"\\{ch:03o}")
        if len(line) >= 100:
            out.append('"' + "".join(line) + '"')
            line = []
    out.append('"' + "".join(line) + '"')
    return "\n  ".join(out)


def shape_text(shape: tuple[int | Expr, ...]) -> str:
    dims = [d.name if isinstance(d, Var) else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def prototype(k: KernelSig) -> str:
    args = []
    for (name, dtype, shape, written), _ in zip(k.params, k.scalar_vars):
        if shape is None:
            args.append(f"{_C_SCALAR[dtype]} {name}")
        else:
            args.append(f"{'' if written else 'const '}{C_TYPES[dtype][0]}* {name}")
    args += [f"{_C_SCALAR[v.dtype]} {v.name}" for v in k.extra]
    return f"int {k.symbol}({', '.join(args) or 'void'})"


def _dl_prototype(k: KernelSig) -> str:
    args = [f"{_C_SCALAR[dtype]} {name}" if shape is None else f"DLTensor* {name}"
            for name, dtype, shape, _ in k.params]
    return f"int {k.name}_dl({', '.join(args) or 'void'})"


def header(kernels: list[KernelSig], guard: str) -> str:
    """The library's header: both entries and the error function of every kernel, shapes in comments."""
    lines = [f"/* Generated by tex: {len(kernels)} kernel(s). Link with the .so; no Python needed at run time.",
             "   Return codes: 0 ok, -1 out of memory, -2 bad DLTensor argument (see <name>_last_error()). */",
             f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>", "#ifdef __cplusplus", 'extern "C" {',
             "#endif", DLPACK_DEFS]
    for k in kernels:
        lines.append(f"/* {k.name}: dense row-major (C-contiguous) buffers, 64-byte alignment recommended")
        for name, dtype, shape, written in k.params:
            kind = "scalar" if shape is None else f"{dtype}{shape_text(shape)}{' (output)' if written else ''}"
            lines.append(f"     {name}: {kind}")
        for v in k.extra:
            lines.append(f"     {v.name}: shape variable ({v.dtype})")
        lines.append("*/")
        lines += [prototype(k) + ";", _dl_prototype(k) + ";", f"const char* {k.name}_last_error(void);", ""]
    lines += ["#ifdef __cplusplus", "}", "#endif", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _c_expr(e: Expr, names: dict[int, str]) -> str:
    if isinstance(e, Const):
        return f"(int64_t){int(e.value)}"
    if isinstance(e, Var):
        return names[id(e)]
    if isinstance(e, Cast):
        return _c_expr(e.value, names)
    if type(e) in _C_OPS:
        return f"({_c_expr(e.a, names)} {_C_OPS[type(e)]} {_c_expr(e.b, names)})"  # type: ignore[attr-defined]
    fns: dict[type, str] = {FloorDiv: "tex_floordiv", FloorMod: "tex_floormod", Min: "tex_min", Max: "tex_max"}
    fn = fns.get(type(e))
    if fn is None:
        raise NotImplementedError(f"export: cannot express the dimension `{e}` in C")
    return f"{fn}({_c_expr(e.a, names)}, {_c_expr(e.b, names)})"  # type: ignore[attr-defined]


def _dl_entry(k: KernelSig) -> list[str]:
    """`<name>_dl`: check every DLTensor like the Python runtime does, bind shape variables, call."""
    names: dict[int, str] = {}
    body: list[str] = []
    counter = 0

    def var(v: Var) -> str:
        nonlocal counter
        if id(v) not in names:
            names[id(v)] = f"v{counter}_{v.name}"
            counter += 1
            body.insert(0, f"  int64_t {names[id(v)]} = 0; int {names[id(v)]}_set = 0; (void){names[id(v)]}_set;")
        return names[id(v)]

    for (name, _, _, _), v in zip(k.params, k.scalar_vars):
        if v is not None:
            n = var(v)
            body.append(f"  {n} = (int64_t){name}; {n}_set = 1;")
    later: list[tuple[str, int, Expr, str, str]] = []  # dimensions that are expressions: checked last
    for pos, (name, dtype, shape, _) in enumerate(k.params):
        if shape is None:
            continue
        where = f"{k.name}: argument '{name}' (#{pos + 1})"
        st = shape_text(shape)
        _, code, bits = C_TYPES[dtype]
        body.append(f'  if (tex_check({name}, "{where}", "{st}", {len(shape)}, {code}, {bits}, "{dtype}")) return -2;')
        for i, d in enumerate(shape):
            got = f"{name}->shape[{i}]"
            fail = f'return tex_fail("{where} must have shape {st}, got %s", tex_shape_str({name}, sb, sizeof sb));'
            if isinstance(d, int):
                body.append(f"  if ({got} != {d}) {fail}")
            elif isinstance(d, Var):
                n = var(d)
                body.append(f"  if (!{n}_set) {{ {n} = {got}; {n}_set = 1; }} else if ({n} != {got}) {fail}")
            else:
                later.append((name, i, d, where, st))
    for name, i, e, where, st in later:
        body.append(f"  if ({name}->shape[{i}] != {_c_expr(e, names)}) return tex_fail(\"{where} must have shape "
                    f"{st}, got %s\", tex_shape_str({name}, sb, sizeof sb));")
    for v in k.extra:
        lo, hi = dtypes.min_value(v.dtype), dtypes.max_value(v.dtype)
        body.append(f"  if ({names[id(v)]} < {lo}LL || {names[id(v)]} > {hi}LL) return tex_fail(\"{k.name}: shape "
                    f"variable '{v.name}' must fit in {v.dtype}\");")
    args = []
    for name, dtype, shape, _ in k.params:
        args.append(name if shape is None else f"({C_TYPES[dtype][0]}*)((char*){name}->data + {name}->byte_offset)")
    args += [f"({_C_SCALAR[v.dtype]}){names[id(v)]}" for v in k.extra]
    return ([_dl_prototype(k) + " {", "  char sb[160]; (void)sb;"] + body +
            [f"  int rc = {k.symbol}({', '.join(args)});",
             f'  if (rc == -1) snprintf(tex_err, sizeof tex_err, "{k.name}: the kernel could not allocate its '
             'temporary buffers");',
             "  else if (rc == 0) tex_err[0] = 0;", "  return rc;", "}"])


def _pyobj_entry(k: KernelSig) -> list[str]:
    """`<symbol>__pyobj`: numpy array objects in, their data pointers to the kernel (tex.load_module's fast path)."""
    params, args = [], []
    for i, (_, dtype, shape, _) in enumerate(k.params):
        if shape is None:
            params.append(f"{_C_SCALAR[dtype]} a{i}")
            args.append(f"a{i}")
        else:
            params.append(f"char* a{i}")
            args.append(f"*(void**)(a{i} + tex_pyobj_offset)")
    for i, v in enumerate(k.extra):
        params.append(f"{_C_SCALAR[v.dtype]} e{i}")
        args.append(f"e{i}")
    return [f"int {k.symbol}__pyobj({', '.join(params) or 'void'}) {{ return {k.symbol}({', '.join(args)}); }}"]


def source(kernels: list[KernelSig], header_name: str, metadata: str) -> str:
    """The C file compiled into the library next to the kernels' objects."""
    lines = ["#include <stdint.h>", "#include <stddef.h>", f'#include "{header_name}"', RUNTIME_C,
             "const char tex_metadata[] =", "  " + c_string(metadata) + ";", ""]
    lines += ["/* byte offset of `data` in a numpy array object; set by tex.load_module, -1 = unset */",
              "int64_t tex_pyobj_offset = -1;"]
    for k in kernels:
        lines += [f"const char* {k.name}_last_error(void) {{ return tex_err; }}"]
        lines += _dl_entry(k) + _pyobj_entry(k) + [""]
    return "\n".join(lines)
