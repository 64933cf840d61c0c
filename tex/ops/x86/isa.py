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
