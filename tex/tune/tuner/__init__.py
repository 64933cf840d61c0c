"""Tuners: how the next configs to measure are chosen."""
