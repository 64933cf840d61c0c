"""The operator library: computes with tags, plus `schedule_default` (tex/ops/x86 holds the tuned CPU kernels).

Every function takes and returns tex Tensors; see /work/shared/DESIGN.md and the team's API contract.
"""

from tex.ops import nn
from tex.ops.broadcast import (
    add,
    divide,
    equal,
    floor_divide,
    greater,
    greater_equal,
    less,
    less_equal,
    logical_and,
    logical_or,
    maximum,
    minimum,
    mod,
    multiply,
    not_equal,
    power,
    subtract,
    where,
)
from tex.ops.elemwise import (
    abs,  # noqa: A004 (tex.ops.abs, as numpy.abs)
    cast,
    ceil,
    clip,
    erf,
    exp,
    floor,
    identity,
    leaky_relu,
    log,
    negative,
    relu,
    round,  # noqa: A004
    rsqrt,
    sigmoid,
    sqrt,
    tanh,
)
from tex.ops.layout import layout_transform, parse_layout
from tex.ops.nn import (
    avg_pool2d,
    batch_matmul,
    batch_norm_inference,
    conv2d_nchw,
    dense,
    depthwise_conv2d_nchw,
    global_avg_pool2d,
    global_max_pool2d,
    layer_norm,
    log_softmax,
    lrn,
    matmul,
    max_pool2d,
    pad,
    softmax,
)
from tex.ops.reduce import reduce_max, reduce_mean, reduce_min, reduce_prod, reduce_sum
from tex.ops.resize import resize
from tex.ops.schedule_default import schedule_default
from tex.ops.transform import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    reshape,
    split,
    squeeze,
    strided_slice,
    take,
    transpose,
)

__all__ = [
    "abs", "add", "avg_pool2d", "batch_matmul", "batch_norm_inference", "broadcast_to", "cast", "ceil", "clip",
    "concatenate", "conv2d_nchw", "dense", "depthwise_conv2d_nchw", "divide", "equal", "erf", "exp", "expand_dims",
    "flatten", "floor", "floor_divide", "global_avg_pool2d", "global_max_pool2d", "greater", "greater_equal",
    "identity", "layer_norm", "leaky_relu", "less", "less_equal", "log", "log_softmax", "logical_and", "logical_or",
    "lrn", "matmul", "max_pool2d", "maximum", "minimum", "mod", "multiply", "negative", "nn", "not_equal", "pad",
    "power", "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "relu", "reshape", "resize",
    "round",
    "rsqrt", "schedule_default", "sigmoid", "softmax", "split", "sqrt", "squeeze", "strided_slice", "subtract",
    "take", "tanh", "transpose", "where",
    "layout_transform", "parse_layout",
]
