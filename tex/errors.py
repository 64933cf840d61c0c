"""The one error hierarchy of tex: every message names the user's tensor, axis, node or argument."""

from __future__ import annotations


class TexError(Exception):
    """Base class of every error tex raises on purpose."""


class ScheduleError(TexError):
    """An illegal schedule request: `<primitive>(<stage>, axis '<axis>'): <requirement>, got <value>`."""


class LoweringError(TexError):
    """A schedule that cannot be lowered to a loop nest."""


class BuildError(TexError):
    """Code generation or compilation failed for a target."""


class TuneError(TexError):
    """A tuning task, template or record is unusable."""


class OnnxImportError(TexError):
    """An ONNX model that tex cannot import, naming node, op type and opset."""
