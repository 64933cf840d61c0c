"""Shared check of the x86 tuning templates: the default and random configs of a task match its reference."""

from __future__ import annotations

from typing import Any

import numpy as np

import tex
import tex.ops.x86.templates
from tex import tune


def check_template_configs(name: str, args: tuple[Any, ...], n_random: int = 3) -> tune.Task:
    """Build the default and `n_random` random configs of template `name` at `args` (skipping configs the
    template refuses, such as register tiles larger than the register file); each output, pre-filled with
    NaN so an unwritten element shows, must match the template's reference. Returns the task."""
    task = tune.create_task(name, args)
    space = task.config_space
    rng = np.random.default_rng(0)
    built = [(space.default(), task.instantiate(space.default()))]
    for i in rng.permutation(len(space)):  # random configs, past those the template refuses as invalid
        if len(built) > n_random:
            break
        cfg = space.get(int(i))
        try:
            built.append((cfg, task.instantiate(cfg)))
        except ValueError as e:
            assert "does not fit" in str(e), e  # the only configs a shipped template refuses
    for cfg, (s, targs) in built:
        f = tex.build(s, targs)
        arrays = task.make_inputs(seed=1, config=cfg)
        want = task.reference(arrays, cfg)
        _, outs = task.signature(cfg)
        for p in outs:
            arrays[p].fill(np.nan)
        f(*arrays)
        for p, w in zip(outs, want, strict=True):
            np.testing.assert_allclose(arrays[p], w, rtol=1e-4, atol=1e-4, err_msg=f"{name} {cfg}")
    return task
