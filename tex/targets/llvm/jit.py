"""LLVM IR text -> machine code in this process.

    str(ir.Module) -> parse_assembly -> verify -> O3 (new pass manager, the target's TargetMachine)
                   -> MCJIT -> function addresses

The optimized `.ll` is kept; assembly and object code are emitted from it on demand. A `Compiled`
owns its execution engine: the machine code lives exactly as long as the object.
"""

from __future__ import annotations

import ctypes.util
import threading
from dataclasses import dataclass, field
from functools import cache

import llvmlite.binding as llvm

from tex.errors import BuildError
from tex.targets.llvm import vecmath
from tex.targets.llvm.vecmath import VectorMath
from tex.targets.target import Target

_LOCK = threading.Lock()  # LLVM contexts and pass pipelines are not shared across threads


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()
    # libm for tanhf/erff..., libmvec for their SIMD versions, libgcc for the half-precision conversion helpers
    for lib in ("m", "mvec", "gcc_s"):
        path = ctypes.util.find_library(lib)
        if path:
            try:
                llvm.load_library_permanently(path)
            except RuntimeError:
                pass


def symbol_available(name: str) -> bool:
    _init()
    return bool(llvm.address_of_symbol(name))


@cache
def vector_math(target: Target) -> VectorMath | None:
    """libmvec for `target`: its widest x86 vector ISA and the variants this process resolves."""
    if not target.llvm_triple().startswith("x86_64"):
        return None
    feats = set(target.llvm_features().split(","))
    isa = "e" if "+avx512f" in feats else "d" if "+avx2" in feats else "b"
    available = frozenset(s for s in vecmath.candidates(isa) if symbol_available(s))
    return VectorMath(isa, available) if available else None


@cache
def target_machine(target: Target, jit: bool = False) -> llvm.TargetMachine:
    """The TargetMachine of `target` at opt level 3 (cached: the JIT needs fresh ones, see `_engine`)."""
    _init()
    return _new_target_machine(target, jit)


def _new_target_machine(target: Target, jit: bool) -> llvm.TargetMachine:
    try:
        t = llvm.Target.from_triple(target.llvm_triple())
    except RuntimeError as e:
        raise BuildError(f"target '{target}': LLVM has no backend for triple {target.llvm_triple()!r}: {e}") from None
    return t.create_target_machine(cpu=target.llvm_cpu(), features=target.llvm_features(), opt=3,
                                   reloc="default", codemodel="jitdefault" if jit else "default", jit=jit)


@dataclass
class Compiled:
    """Machine code for one LLVM module, plus its optimized IR; keep it alive while calling into it."""

    target: Target
    ll: str                                   # optimized LLVM IR
    engine: llvm.ExecutionEngine
    addresses: dict[str, int]
    _asm: str | None = field(default=None, repr=False)

    def asm(self) -> str:
        if self._asm is None:
            with _LOCK:
                self._asm = target_machine(self.target).emit_assembly(llvm.parse_assembly(self.ll))
        return self._asm

    def object_code(self) -> bytes:
        """A relocatable object file (ELF on Linux) of the module, for export."""
        with _LOCK:
            return bytes(target_machine(self.target).emit_object(llvm.parse_assembly(self.ll)))


def optimize(text: str, target: Target) -> llvm.ModuleRef:
    """Parse, verify and run the O3 pipeline of the new pass manager for `target`."""
    _init()
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as e:
        raise BuildError(f"llvm: generated IR is invalid: {e}") from None
    tm = target_machine(target)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    # LLVM's loop vectorizer is off: tex vectorizes what a schedule asks for itself (vectorize.py), and
    # LLVM 22's O3 loop vectorizer miscompiles if-converted guarded loads under fused index arithmetic
    # (tests/targets/test_llvm_codegen.py::test_fused_padded_window_sum, a 3x3 padded sum over a fused loop).
    pto.loop_vectorization = False
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def compile_ir(text: str, target: Target, names: list[str]) -> Compiled:
    """Optimize and JIT `text`; the addresses of `names` are looked up."""
    with _LOCK:
        mod = optimize(text, target)
        ll = str(mod)
        _check_symbols(mod)
        engine = llvm.create_mcjit_compiler(mod, _new_target_machine(target, jit=True))
        engine.finalize_object()
        addresses = {n: engine.get_function_address(n) for n in names}
    missing = [n for n, a in addresses.items() if not a]
    if missing:
        raise BuildError(f"llvm: functions {missing} are missing from the compiled module")
    return Compiled(target, ll, engine, addresses)


def _check_symbols(mod: llvm.ModuleRef) -> None:
    """An external function MCJIT cannot resolve would crash at call time: refuse it here."""
    for f in mod.functions:
        if f.is_declaration and not f.name.startswith("llvm.") and not llvm.address_of_symbol(f.name):
            raise BuildError(f"llvm: the kernel calls '{f.name}', which is not loaded in this process")
