"""tex: a tensor-expression compiler. Write the compute once, schedule it separately, build it for CPU or OpenCL."""

from tex.driver import build, lower
from tex.errors import BuildError, LoweringError, OnnxImportError, ScheduleError, TexError, TuneError
from tex.lang.dsl import (
    abs,
    all,
    any,
    ceil,
    compute,
    const,
    erf,
    exp,
    floor,
    if_then_else,
    log,
    max,
    max_value,
    min,
    min_value,
    placeholder,
    pow,
    reduce_axis,
    round,
    rsqrt,
    select,
    sigmoid,
    sqrt,
    sum,
    tanh,
    thread_axis,
    var,
)
from tex.lang.expr import Expr, Var
from tex.lang.tensor import ComputeOp, IterVar, PlaceholderOp, Reduce, Tensor
from tex.schedule.schedule import Schedule, Stage, create_schedule
from tex.targets.export import Library, export_library, load_module

__version__ = "0.1.0"


def compile(model: object, target: str = "llvm", tuning_log: str | None = None,  # noqa: A001 (tex.compile, as in DESIGN.md)
            shapes: dict | None = None, fallback: bool = False, blocked_layout: bool = True) -> object:
    """Compile an ONNX model (path, bytes, ModelProto or imported Graph) into an executor with `.run({name: array})`;
    `fallback=True` runs the nodes tex cannot lower through onnx.reference instead of refusing the model;
    `blocked_layout=False` keeps every activation in NCHW (each conv then packs and unpacks its own)."""
    from tex.onnx_import import compile_model
    return compile_model(model, target=target, tuning_log=tuning_log, shapes=shapes, fallback=fallback,
                         blocked_layout=blocked_layout)


def __getattr__(name: str) -> object:
    """`tex.nd` on first use: it loads the OpenCL runtime, which `import tex` leaves out."""
    if name == "nd":
        import importlib
        return importlib.import_module("tex.nd")
    raise AttributeError(f"module 'tex' has no attribute {name!r}")


__all__ = [
    "BuildError", "ComputeOp", "Expr", "IterVar", "LoweringError", "OnnxImportError", "PlaceholderOp", "Reduce",
    "Schedule", "ScheduleError", "Stage", "Tensor", "TexError", "TuneError", "Var", "__version__",
    "Library", "build", "compile", "create_schedule", "export_library", "load_module", "lower",
    "abs", "all", "any", "ceil", "compute", "const", "erf", "exp", "floor", "if_then_else", "log", "max",
    "max_value", "min", "min_value", "nd", "placeholder", "pow", "reduce_axis", "round", "rsqrt", "select", "sigmoid",
    "sqrt", "sum", "tanh", "thread_axis", "var",
]
