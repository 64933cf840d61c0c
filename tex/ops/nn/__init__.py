"""Neural-network operators: convolution, pooling, dense/matmul, softmax, normalisation, padding."""

from tex.ops.nn.conv2d import conv2d_nchw, depthwise_conv2d_nchw
from tex.ops.nn.dense import batch_matmul, dense, matmul
from tex.ops.nn.norm import batch_norm_inference, layer_norm, lrn
from tex.ops.nn.pad import pad
from tex.ops.nn.pool import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
from tex.ops.nn.softmax import log_softmax, softmax

__all__ = [
    "avg_pool2d", "batch_matmul", "batch_norm_inference", "conv2d_nchw", "dense", "depthwise_conv2d_nchw",
    "global_avg_pool2d", "global_max_pool2d", "layer_norm", "log_softmax", "lrn", "matmul", "max_pool2d", "pad",
    "softmax",
]
