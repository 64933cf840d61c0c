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

__version__ = "0.1.0"

__all__ = [
    "BuildError", "ComputeOp", "Expr", "IterVar", "LoweringError", "OnnxImportError", "PlaceholderOp", "Reduce",
    "Schedule", "ScheduleError", "Stage", "Tensor", "TexError", "TuneError", "Var", "__version__",
    "build", "create_schedule", "lower",
    "abs", "all", "any", "ceil", "compute", "const", "erf", "exp", "floor", "if_then_else", "log", "max",
    "max_value", "min", "min_value", "placeholder", "pow", "reduce_axis", "round", "rsqrt", "select", "sigmoid",
    "sqrt", "sum", "tanh", "thread_axis", "var",
]
