"""What the host CPU's vector unit offers, for choosing default blockings (templates' default configs).

The defaults must suit the machine they run on: an AVX-512 core has 32 registers of 16 float32 lanes, an
AVX2 core 16 registers of 8 lanes, so a register tile sized for one spills on the other.
"""

from __future__ import annotations

from tex.targets.target import host_features


def vector_lanes(dtype: str = "float32") -> int:
    """Lanes of the widest vector register the host supports for `dtype` (16 float32 on AVX-512, 8 on AVX2)."""
    feats = host_features()
    bits = 512 if "avx512f" in feats else 256 if "avx" in feats else 128
    width = {"float64": 8, "float32": 4, "float16": 2}.get(dtype, 4)
    return bits // (8 * width)


def vector_registers() -> int:
    """Architectural vector registers: 32 with AVX-512, 16 otherwise."""
    return 32 if "avx512f" in host_features() else 16


def register_tiles(lanes: int | None = None, registers: int | None = None) -> list[tuple[int, int]]:
    """Register tiles (rows, columns) of a GEMM micro-kernel that fit the vector register file, best first.

    A `rows x cols` tile keeps `rows * cols / lanes` accumulators, `cols / lanes` vectors of B and one
    broadcast of A live per k step; all of them must fit the registers (3 x 32 on AVX2, 17 registers, spills
    and measured slower than 6 x 16 or 4 x 24). With AVX-512 (16 lanes, 32 registers) this is the blocking
    tex always had (rows 1..16 x columns 16..64); the list depends only on (lanes, registers), so a host's
    tuning space is deterministic.
    """
    lanes = vector_lanes() if lanes is None else lanes
    registers = vector_registers() if registers is None else registers
    if lanes >= 16 and registers >= 32:  # nearest to 8 x 32 first, so a small M or N defaults close to it
        return [(r, c) for r in (8, 6, 4, 12, 16, 2, 1) for c in (32, 16, 48, 64)]
    tiles = []
    for v, rows in ((2, (6, 4, 3, 2, 1)), (3, (4, 3, 2, 1)), (4, (3, 2, 1)), (1, (12, 8, 6, 4, 1))):
        # two vectors per row first: 6 x 16 is the classic AVX2 (BLIS Haswell) micro-kernel
        tiles += [(r, v * lanes) for r in rows if r * v + v + 1 <= registers]
    return tiles
