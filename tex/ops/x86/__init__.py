"""Schedules and tuning templates for x86 CPUs (the llvm target)."""
