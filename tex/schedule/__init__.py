"""Schedules, their primitives, bound inference and lowering to the loop IR."""

from tex.schedule.lower import lower
from tex.schedule.schedule import Schedule, Stage, create_schedule

__all__ = ["Schedule", "Stage", "create_schedule", "lower"]
