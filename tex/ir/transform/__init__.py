"""Loop-IR passes: each one a pure `PrimFunc -> PrimFunc` function in its own module."""

from tex.ir.transform.vectorize import vectorize

__all__ = ["vectorize"]
