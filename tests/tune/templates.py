"""Tuning templates used by the tests (workers import this file by path)."""

from __future__ import annotations

import os
import time

import tex
from tex import tune


@tune.template("test.matmul", reference=lambda M, N, K: (lambda a, b: a @ b))
def matmul(M: int, N: int, K: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
    A = tex.placeholder((M, K), name="A")
    B = tex.placeholder((K, N), name="B")
    k = tex.reduce_axis((0, K), name="k")
    C = tex.compute((M, N), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    cfg = tune.get_config()
    i, j = C.op.axis
    cfg.define_split("tile_i", i, num_outputs=2, policy="power2")
    cfg.define_split("tile_j", j, num_outputs=2, policy="candidate", candidate=[[-1, 4], [-1, 8], [-1, 16]])
    cfg.define_knob("vec", [False, True], default=True)
    io, ii = cfg["tile_i"].apply(s, C, i)
    jo, ji = cfg["tile_j"].apply(s, C, j)
    s[C].reorder(io, jo, k, ii, ji)
    if cfg["vec"].val:
        s[C].vectorize(ji)
    return s, [A, B, C]


@tune.template("test.faulty", reference=lambda n: (lambda a: a * 2))
def faulty(n: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
    """mode: ok | crash (the runner process dies) | hang | wrong (a wrong answer) | invalid (a bad split)."""
    cfg = tune.get_config()
    cfg.define_knob("mode", ["ok", "crash", "hang", "wrong", "invalid"])
    mode = cfg["mode"].val
    in_runner = os.environ.get("TEX_TUNE_WORKER") == "runner"
    if in_runner and mode == "crash":
        os.abort()
    if in_runner and mode == "hang":
        time.sleep(600)
    A = tex.placeholder((n,), name="A")
    factor = 3 if mode == "wrong" else 2
    B = tex.compute((n,), lambda i: A[i] * factor, name="B")
    s = tex.create_schedule(B)
    if mode == "invalid":
        s[B].split(B.op.axis[0], factor=0)
    return s, [A, B]
