"""Schedules and tuning templates for OpenCL devices (GPU-style: work-groups, work-items, private tiles)."""
