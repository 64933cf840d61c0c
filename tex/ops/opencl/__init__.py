"""Schedules and tuning templates for OpenCL devices (GPU-style: work-groups, work-items, private tiles)."""
from tex.ops.opencl import conv2d, matmul  # noqa: F401  (registers "conv2d_nchw_opencl" and "matmul_opencl")
