"""Scalar data types of tex: names, properties and promotion rules."""

from __future__ import annotations

import numpy as np

DTYPES: tuple[str, ...] = (
    "float16", "float32", "float64",
    "int8", "int16", "int32", "int64", "uint8", "bool",
)

# The dtype of loop variables and of Python ints mixed into index arithmetic.
INDEX = "int64"


def check(dtype: object, where: str = "dtype") -> str:
    """Return `dtype` as a canonical name or raise a ValueError listing the valid ones."""
    if isinstance(dtype, np.dtype) or (isinstance(dtype, type) and issubclass(dtype, np.generic)):
        dtype = np.dtype(dtype).name
    if dtype not in DTYPES:
        raise ValueError(f"{where}: unknown dtype {dtype!r}, expected one of {', '.join(DTYPES)}")
    return str(dtype)


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")


def is_int(dtype: str) -> bool:
    return dtype.startswith("int") or dtype.startswith("uint")


def is_signed(dtype: str) -> bool:
    return dtype.startswith("int") or is_float(dtype)


def is_bool(dtype: str) -> bool:
    return dtype == "bool"


def bits(dtype: str) -> int:
    return 1 if dtype == "bool" else int("".join(c for c in dtype if c.isdigit()))


def itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize


def to_numpy(dtype: str) -> np.dtype:
    return np.dtype(dtype)


def promote(a: str, b: str) -> str:
    """The dtype of a binary operation: floats win, then the wider type."""
    if a == b:
        return a
    if is_float(a) != is_float(b):
        return a if is_float(a) else b
    if is_bool(a):
        return b
    if is_bool(b):
        return a
    return a if bits(a) >= bits(b) else b


def max_value(dtype: str) -> float | int:
    if is_float(dtype):
        return float(np.finfo(dtype).max) if dtype != "float16" else 65504.0
    if is_bool(dtype):
        return True
    return int(np.iinfo(dtype).max)


def min_value(dtype: str) -> float | int:
    if is_float(dtype):
        return -max_value(dtype)
    if is_bool(dtype):
        return False
    return int(np.iinfo(dtype).min)


def lanes(dtype: str) -> int:
    """Vector width of a loop-IR dtype such as `float32x8` (1 for scalars)."""
    return int(dtype.split("x")[1]) if "x" in dtype else 1


def element(dtype: str) -> str:
    """The scalar type of a possibly vector dtype: `float32x8` -> `float32`."""
    return dtype.split("x")[0]


def with_lanes(dtype: str, n: int) -> str:
    base = element(dtype)
    return base if n == 1 else f"{base}x{n}"
