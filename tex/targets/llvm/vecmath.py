"""Vector math through glibc's libmvec: `exp` of `<16 x float>` is one call to `_ZGVeN16v_expf`.

LLVM lowers a vector `llvm.exp` to one scalar `expf` call per lane; libmvec's SIMD versions are 4-30x
faster with errors of a few ulp. Names follow the x86 vector function ABI: `_ZGV<isa>N<lanes><v|vv>_<fn>`
with isa b (SSE, xmm), d (AVX2, ymm), e (AVX-512, zmm); a vector of another width is padded and split
into calls of the widest variant the target has.
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from tex.targets.llvm.irutil import I32

FUNCTIONS = ("exp", "log", "tanh", "erf", "pow")
_WIDTH = {("e", True): 16, ("d", True): 8, ("b", True): 4, ("e", False): 8, ("d", False): 4, ("b", False): 2}
_ORDER = "edb"  # widest first


def symbol(name: str, isa: str, f32: bool) -> str:
    lanes = _WIDTH[isa, f32]
    return f"_ZGV{isa}N{lanes}{'vv' if name == 'pow' else 'v'}_{name}{'f' if f32 else ''}"


def candidates(isa: str) -> list[str]:
    """Every libmvec symbol a target with vector ISA `isa` may call (to look up in the process once)."""
    isas = _ORDER[_ORDER.index(isa):]
    return [symbol(n, i, f) for n in FUNCTIONS for i in isas for f in (True, False)]


@dataclass(frozen=True)
class VectorMath:
    """The target's widest vector ISA letter and the libmvec symbols this process resolves."""

    isa: str
    available: frozenset[str]

    def variant(self, name: str, f32: bool, lanes: int) -> tuple[str, int] | None:
        """(symbol, width) of the widest usable variant that fits `lanes` (else the narrowest), or None."""
        if name not in FUNCTIONS:
            return None
        usable = [(symbol(name, i, f32), _WIDTH[i, f32]) for i in _ORDER[_ORDER.index(self.isa):]]
        usable = [u for u in usable if u[0] in self.available]
        if not usable:
            return None
        fitting = [u for u in usable if u[1] <= lanes]
        return fitting[0] if fitting else usable[-1]


def call(b: ir.IRBuilder, vm: VectorMath, name: str, args: list[ir.Value]) -> ir.Value | None:
    """`name` on float/double vectors through libmvec, or None when no variant applies."""
    t = args[0].type
    if not isinstance(t, ir.VectorType) or not isinstance(t.element, (ir.FloatType, ir.DoubleType)):
        return None
    f32 = isinstance(t.element, ir.FloatType)
    found = vm.variant(name, f32, t.count)
    if found is None:
        return None
    sym, w = found
    n = t.count
    wt = ir.VectorType(t.element, w)
    fn = b.module.globals.get(sym) or ir.Function(b.module, ir.FunctionType(wt, [wt] * len(args)), sym)
    parts = []
    for start in range(0, n, w):  # lanes past n are padding (any lane of the input; the results are dropped)
        mask = ir.Constant(ir.VectorType(I32, w), [min(start + k, n - 1) for k in range(w)])
        chunk = [b.shuffle_vector(a, ir.Constant(t, None), mask) for a in args]
        parts.append(b.call(fn, chunk))
    if len(parts) == 1 and w == n:
        return parts[0]
    while len(parts) > 1:  # concatenate pairwise; an odd one out is paired with undef (padding at the end)
        width = parts[0].type.count
        if len(parts) % 2:
            parts.append(ir.Constant(parts[0].type, None))
        both = ir.Constant(ir.VectorType(I32, 2 * width), list(range(2 * width)))
        parts = [b.shuffle_vector(parts[k], parts[k + 1], both) for k in range(0, len(parts), 2)]
    whole = parts[0]
    return b.shuffle_vector(whole, ir.Constant(whole.type, None), ir.Constant(ir.VectorType(I32, n), list(range(n))))
