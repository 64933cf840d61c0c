"""Built kernels -> a shared library with a C header; `load_module` brings one back as a `Module`.

    export_library([gemm, relu], "ops.so")   # ops.so + ops.h
      = per kernel: lowered PrimFunc -> PIC object (tex/targets/llvm/objfile.py)
        + one C file (export_c.py): DLTensor entries, *_last_error, the `tex_metadata` JSON
        -> cc -shared ... -lgomp (parallel loops) -lmvec (vector math) -lm

The metadata records each kernel's parameters (names, dtypes, shapes with their variables, which
buffers are written), so a loaded kernel checks its arguments exactly like the one that was built.
OpenCL kernels export as their `.cl` source plus a JSON with launch geometry and argument order.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tex.errors import BuildError
from tex.ir.nodes import Buffer, PrimFunc, Seq, Store
from tex.lang.expr import Add, Cast, Const, Expr, FloorDiv, FloorMod, Max, Min, Mul, Sub, Var
from tex.targets import export_c
from tex.targets.runtime import Module, _dim, pyobj_data_offset
from tex.targets.target import Target, TargetKind

if TYPE_CHECKING:
    from tex.targets.llvm.objfile import ObjectCode

FORMAT_VERSION = 1
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_EXPR_OPS: dict[str, type] = {"add": Add, "sub": Sub, "mul": Mul, "floordiv": FloorDiv, "floormod": FloorMod,
                              "min": Min, "max": Max}
_EXPR_NAMES = {v: k for k, v in _EXPR_OPS.items()}


def find_compiler(cc: str | None = None) -> str | None:
    """The C compiler used to link: `cc` if given, else `cc`, `gcc` or `clang` on PATH; None if none."""
    for name in ([cc] if cc else ["cc", "gcc", "clang"]):
        path = shutil.which(name)
        if path:
            return path
    return None


def _modules(modules: Module | Sequence[Module]) -> list[Module]:
    """The built kernels to export, as a non-empty list (a clear error for anything else)."""
    mods = [modules] if isinstance(modules, Module) else list(modules)
    if not mods:
        raise ValueError("export_library: give at least one built kernel")
    for m in mods:
        if not isinstance(m, Module):
            raise TypeError(f"export_library: expected modules from tex.build, got {type(m).__name__}")
    return mods


def export_library(modules: Module | Sequence[Module], path: str | os.PathLike[str], cc: str | None = None) -> Path:
    """Write the shared library `path` (and its header next to it, `.h`) holding every kernel of `modules`.

    LLVM kernels; OpenCL modules write `<path>.cl` + `<path>.json` instead and return the .json path
    (see `export_opencl`).
    """
    mods = _modules(modules)
    kinds = {m.target.kind for m in mods}
    if TargetKind.OPENCL in kinds:
        if len(kinds) > 1:
            raise ValueError("export_library: OpenCL and LLVM kernels cannot share one export; export each "
                             "target's kernels separately")
        return export_opencl(mods, path)
    out = Path(path)
    _check_names(mods)
    compiler = require_compiler(cc, "export_library")
    header_path = out.with_suffix(".h")
    sigs, objects = compile_kernels(mods)
    meta = [_kernel_meta(m, o.extra) for m, o in zip(mods, objects)]
    metadata = json.dumps({"format": "tex-library", "version": FORMAT_VERSION, "target": str(mods[0].target),
                           "kernels": meta}, separators=(",", ":"))
    header_path.write_text(export_c.header(sigs, _guard(header_path)))
    exported = ["tex_pyobj_offset"] + [n for s in sigs for n in (s.symbol, f"{s.name}_dl", f"{s.name}_last_error",
                                                                 f"{s.symbol}__pyobj")]
    link(out, compiler, export_c.source(sigs, header_path.name, metadata), objects, exported)
    return out


def require_compiler(cc: str | None, where: str) -> str:
    compiler = find_compiler(cc)
    if compiler is None:
        raise BuildError(f"{where}: no C compiler found (tried {cc or 'cc, gcc, clang'}); install gcc to link "
                         "shared libraries")
    return compiler


def _guard(header_path: Path) -> str:
    return re.sub(r"\W", "_", header_path.name).upper()


def compile_kernels(mods: Sequence[Module], symbols: Sequence[str] | None = None,
                    ) -> tuple[list[export_c.KernelSig], list[ObjectCode]]:
    """Each kernel's C-side signature and PIC object (compiled again from its lowered loop IR).

    `symbols` renames the entries (default: each module's own symbol).
    """
    from tex.targets.llvm.objfile import emit_object

    syms = list(symbols) if symbols is not None else [m.symbol for m in mods]
    objects = [emit_object(m.lowered, m.target, sym) for m, sym in zip(mods, syms)]
    return [_sig(m, o.extra, o.symbol) for m, o in zip(mods, objects)], objects


def link(out: Path, compiler: str, c_source: str, objects: Sequence[ObjectCode], exported: Sequence[str],
         blob: bytes | None = None) -> None:
    """cc -shared: the C file + the objects (+ `blob` as `tex_blob`, 64-byte aligned) -> `out`.

    Only `exported` and `tex_metadata` are visible; libgomp/libmvec are linked when the objects call them.
    """
    libs = _link_libraries({e for o in objects for e in o.externals})
    with tempfile.TemporaryDirectory(prefix="tex-export-") as tmp:
        files = []
        for i, o in enumerate(objects):
            f = Path(tmp, f"k{i}_{o.symbol}.o")
            f.write_bytes(o.data)
            files.append(str(f))
        if blob is not None:  # .incbin: weights go into .rodata without a C initializer (fast for 100 MB)
            Path(tmp, "blob.bin").write_bytes(blob)
            Path(tmp, "blob.s").write_text('.section .rodata\n.balign 64\n.globl tex_blob\n.type tex_blob,@object\n'
                                           f'tex_blob:\n.incbin "{Path(tmp, "blob.bin")}"\n'
                                           '.section .note.GNU-stack,"",@progbits\n')
            files.append(str(Path(tmp, "blob.s")))
        c_file = Path(tmp, "tex_entries.c")
        c_file.write_text(c_source)
        version_script = Path(tmp, "exports.map")  # only the entries are visible: no clashes between libraries
        names = ["tex_metadata", *exported]
        version_script.write_text("{ global: " + " ".join(f"{n};" for n in names) + " local: *; };\n")
        cmd = [compiler, "-shared", "-fPIC", "-O2", "-std=gnu11", f"-I{out.parent.resolve()}",
               "-o", str(out), str(c_file), *files, "-Wl,-z,defs", f"-Wl,--version-script={version_script}", *libs]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"export_library({out.name}): linking failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")


def _check_names(mods: list[Module]) -> None:
    seen: dict[str, Module] = {}
    for m in mods:
        if not _IDENT.match(m.name):
            raise ValueError(f"export_library: kernel name {m.name!r} is not a C identifier; build it with "
                             f"name='...' (letters, digits, _)")
        for p in m.func.params:
            if not _IDENT.match(p.name):
                raise ValueError(f"export_library({m.name}): parameter name {p.name!r} is not a C identifier")
        for key in (m.name, m.symbol):
            if key in seen and seen[key] is not m:
                raise ValueError(f"export_library: two kernels are named {key!r}; kernel names in one library "
                                 f"must be unique")
            seen[key] = m
    if len({m.target.llvm_triple() for m in mods}) > 1:
        raise ValueError("export_library: all kernels of one library must be built for the same triple")


def _link_libraries(externals: set[str]) -> list[str]:
    """-l flags for what the objects call: libgomp for parallel loops, libmvec for vector math, libm."""
    libs = []
    if any(e.startswith(("GOMP_", "omp_")) for e in externals):
        libs += ["-lgomp", "-lpthread"]
    if any(e.startswith("_ZGV") for e in externals):
        libs.append("-lmvec")
    return libs + ["-lm"]


def _sig(m: Module, extra: tuple[Var, ...], symbol: str) -> export_c.KernelSig:
    written = {id(s.buffer) for s in _stores(m.func)}
    params: list[tuple[str, str, tuple[int | Expr, ...] | None, bool]] = []
    scalars: list[Var | None] = []
    for p in m.func.params:
        if isinstance(p, Buffer):
            params.append((p.name, p.dtype, tuple(_dim(d) for d in p.shape), id(p) in written))
            scalars.append(None)
        else:
            params.append((p.name, p.dtype, None, False))
            scalars.append(p)
    for name, dtype, _, _ in params:
        if dtype not in export_c.C_TYPES:
            raise NotImplementedError(f"export_library({m.name}): parameter '{name}' has dtype {dtype}, which has "
                                      f"no C type here")
    return export_c.KernelSig(m.name, symbol, tuple(params), tuple(scalars), extra)


def _stores(func: PrimFunc) -> list[Store]:
    from tex.lang.functor import collect

    return collect(func.body, lambda n: isinstance(n, Store))


# ------------------------------------------------------------ metadata: PrimFunc signature <-> JSON
def _kernel_meta(m: Module, extra: tuple[Var, ...]) -> dict[str, Any]:
    var_ids: dict[int, int] = {}
    variables: list[dict[str, str]] = []

    def vid(v: Var) -> int:
        if id(v) not in var_ids:
            var_ids[id(v)] = len(variables)
            variables.append({"name": v.name, "dtype": v.dtype})
        return var_ids[id(v)]

    def enc(e: int | Expr) -> Any:
        if isinstance(e, int):
            return e
        if isinstance(e, Const):
            return int(e.value)
        if isinstance(e, Var):
            return {"var": vid(e)}
        if isinstance(e, Cast):
            return enc(e.value)
        op = _EXPR_NAMES.get(type(e))
        if op is None:
            raise NotImplementedError(f"export_library({m.name}): cannot record the dimension `{e}`")
        return [op, enc(e.a), enc(e.b), e.dtype]  # type: ignore[attr-defined]

    written = {id(s.buffer) for s in _stores(m.func)}
    params: list[dict[str, Any]] = []
    for p in m.func.params:
        if isinstance(p, Buffer):
            params.append({"buffer": p.name, "dtype": p.dtype, "shape": [enc(_dim(d)) for d in p.shape],
                           "written": id(p) in written})
        else:
            params.append({"scalar": vid(p)})
    return {"name": m.name, "symbol": m.symbol, "params": params, "vars": variables,
            "extra": [vid(v) for v in extra]}


def _decode(meta: dict[str, Any]) -> tuple[PrimFunc, tuple[Var, ...]]:
    """A PrimFunc with the recorded signature (its body stores to the written buffers; never compiled)."""
    variables = [Var(v["name"], v["dtype"]) for v in meta["vars"]]

    def dec(x: Any) -> Expr:
        if isinstance(x, int):
            return Const(x, "int32")
        if isinstance(x, dict):
            return variables[x["var"]]
        op, a, b, dtype = x
        return _EXPR_OPS[op](dec(a), dec(b), dtype)

    params: list[Buffer | Var] = []
    stores = []
    for p in meta["params"]:
        if "buffer" in p:
            buf = Buffer(p["buffer"], tuple(dec(d) for d in p["shape"]), p["dtype"])
            params.append(buf)
            if p["written"]:
                stores.append(Store(buf, tuple(Const(0, "int32") for _ in buf.shape), Const(0, p["dtype"])))
        else:
            params.append(variables[p["scalar"]])
    func = PrimFunc(meta["name"], tuple(params), Seq(tuple(stores)))
    return func, tuple(variables[i] for i in meta["extra"])


# ------------------------------------------------------------ loading
@dataclass
class LoadedKernel:
    """The runtime's Kernel for code in a shared library; keeps the library loaded."""

    library: ctypes.CDLL
    addresses: dict[str, int]
    path: str
    ll: str = "; a loaded library keeps no LLVM IR (see the build's get_source('ll'))"

    def asm(self) -> str:
        raise ValueError(f"{self.path}: a loaded library keeps no assembly; disassemble it with objdump -d")


class Library:
    """Several kernels loaded from one library: `lib["gemm"]`, `lib.gemm`, `list(lib)` (names)."""

    def __init__(self, path: str, modules: dict[str, Module]):
        self.path, self.modules = path, modules

    def __getitem__(self, name: str) -> Module:
        try:
            return self.modules[name]
        except KeyError:
            raise KeyError(f"{self.path}: no kernel {name!r}; it has {', '.join(self.modules)}") from None

    def __getattr__(self, name: str) -> Module:
        if name.startswith("_") or name in ("path", "modules"):
            raise AttributeError(name)
        try:
            return self.modules[name]
        except KeyError:
            raise AttributeError(f"{self.path}: no kernel {name!r}; it has {', '.join(self.modules)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.modules)

    def __len__(self) -> int:
        return len(self.modules)

    def __repr__(self) -> str:
        return f"<tex.Library {self.path}: {', '.join(self.modules)}>"


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON a tex library carries (`tex_metadata`), without loading it as a Module."""
    lib = ctypes.CDLL(str(Path(path).resolve()))
    return _metadata(lib, str(path))


def _metadata(lib: ctypes.CDLL, path: str) -> dict[str, Any]:
    try:
        addr = ctypes.addressof(ctypes.c_char.in_dll(lib, "tex_metadata"))
    except ValueError:
        raise ValueError(f"load_module({path}): not a tex library (no 'tex_metadata' symbol)") from None
    meta = json.loads(ctypes.string_at(addr).decode())
    if meta.get("format") != "tex-library" or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"load_module({path}): library format {meta.get('format')} v{meta.get('version')}, "
                         f"this tex reads tex-library v{FORMAT_VERSION}")
    return meta


def load_module(path: str | os.PathLike[str]) -> Module | Library:
    """Load an exported library: a `Module` when it holds one kernel, else a `Library` of Modules by name.

    A whole-model library (export_graph) loads as a `LoadedModel`: `outputs = model(*inputs)`.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"load_module: {p} does not exist")
    lib = ctypes.CDLL(str(p.resolve()))
    meta = _metadata(lib, str(p))
    if "model" in meta:
        from tex.targets.export_graph import LoadedModel

        return LoadedModel(str(p), lib, meta["model"])  # type: ignore[return-value]
    target = Target.parse(meta["target"])
    offset = pyobj_data_offset()
    if offset is not None:  # the entries' `__pyobj` variants read array objects directly (the runtime's fast path)
        ctypes.c_int64.in_dll(lib, "tex_pyobj_offset").value = offset
    modules: dict[str, Module] = {}
    for k in meta["kernels"]:
        func, extra = _decode(k)
        sym = k["symbol"]
        addresses = {s: ctypes.cast(getattr(lib, s), ctypes.c_void_p).value or 0 for s in (sym, f"{sym}__pyobj")}
        kernel = LoadedKernel(lib, addresses, str(p))
        modules[k["name"]] = Module(func, target, kernel, func, extra=extra, symbol=sym, pyobj=offset is not None)
    if len(modules) == 1:
        return next(iter(modules.values()))
    return Library(str(p), modules)


# ------------------------------------------------------------ OpenCL
OPENCL_FORMAT, OPENCL_FORMAT_VERSION = "tex-opencl", 1
_OPENCL_SUFFIXES = ("", ".cl", ".json", ".so")


def export_opencl(modules: Module | Sequence[Module], path: str | os.PathLike[str]) -> Path:
    """`<path>.cl` (the source the runtime builds) and `<path>.json` (how to launch it); returns the .json.

    The JSON holds `format`, `version`, `tex_version`, `target`, `device` and `kernels`: each module's
    `launch_info()` kernels in the order given (their launch order) plus `source`, the .cl file name next
    to the JSON. Several modules write one `<path>.<kernel>.cl` each; a buffer name then denotes one array
    across the kernels (an output of one kernel is the input of a later one of that name).
    """
    mods = _modules(modules)
    where = f"export_library({', '.join(m.name for m in mods)})"
    for m in mods:
        if not callable(getattr(m, "launch_info", None)):
            raise NotImplementedError(
                f"{where}: OpenCL export needs the OpenCL backend's launch geometry (Module.launch_info()), "
                f"which '{m.name}' does not provide; build it with target='opencl' or export an 'llvm' build")
    folder, stem = _opencl_path(path, where)
    targets = {str(m.target) for m in mods}
    if len(targets) > 1:
        raise ValueError(f"{where}: all kernels of one export must be built for the same target, got "
                         f"{', '.join(sorted(targets))}")
    kernels: list[dict[str, Any]] = []
    sources: dict[str, str] = {}
    for m in mods:
        for k in m.launch_info()["kernels"]:  # type: ignore[attr-defined]
            if any(k["name"] == other["name"] for other in kernels):
                raise ValueError(f"{where}: two kernels are named {k['name']!r}; kernel names in one export "
                                 f"must be unique (build with name='...')")
            cl_name = f"{stem}.cl" if len(mods) == 1 else f"{stem}.{k['name']}.cl"
            sources[cl_name] = m.get_source("cl")
            kernels.append({"name": k["name"], "source": cl_name, **{x: v for x, v in k.items() if x != "name"}})
    _check_shared_buffers(kernels, where)
    device = getattr(getattr(mods[0], "ctx", None), "name", None)
    meta = {"format": OPENCL_FORMAT, "version": OPENCL_FORMAT_VERSION, "tex_version": _tex_version(),
            "target": targets.pop(), "device": device, "kernels": kernels}
    for cl_name, text in sources.items():
        (folder / cl_name).write_text(text)
    json_path = folder / f"{stem}.json"
    json_path.write_text(json.dumps(meta, indent=2) + "\n")
    return json_path


def _opencl_path(path: str | os.PathLike[str], where: str) -> tuple[Path, str]:
    """(directory, file name without .cl/.json/.so) of `path`, checked: a file name in an existing directory."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{where}: path must be a str or os.PathLike, got {type(path).__name__}")
    p = Path(path)
    if p.name in ("", ".", "..") or str(path).endswith(os.sep):
        raise ValueError(f"{where}: path must name a file, got {str(path)!r}")
    if p.suffix not in _OPENCL_SUFFIXES:
        raise ValueError(f"{where}: an OpenCL export writes <name>.cl + <name>.json; give a path ending in .cl, "
                         f".json, .so or no suffix, got {str(path)!r}")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"{where}: directory {str(p.parent)!r} does not exist")
    stem = p.name[:len(p.name) - len(p.suffix)]
    for q in (p.parent / f"{stem}.cl", p.parent / f"{stem}.json"):
        if q.is_dir():
            raise IsADirectoryError(f"{where}: {str(q)!r} is a directory")
    return p.parent, stem


def _check_shared_buffers(kernels: list[dict[str, Any]], where: str) -> None:
    """One buffer name = one array across the kernels: the same dtype and shape wherever it appears."""
    seen: dict[str, tuple[str, Any, str]] = {}
    for k in kernels:
        for a in k["args"]:
            if a["kind"] != "buffer":
                continue
            prev = seen.setdefault(a["name"], (a["dtype"], a["shape"], k["name"]))
            if prev[:2] != (a["dtype"], a["shape"]):
                raise ValueError(f"{where}: buffer '{a['name']}' is {prev[0]} {prev[1]} in kernel '{prev[2]}' but "
                                 f"{a['dtype']} {a['shape']} in kernel '{k['name']}'; a buffer name is one array "
                                 f"across the kernels of an export, rename one")


def _tex_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tex")
    except PackageNotFoundError:
        return "unknown"
