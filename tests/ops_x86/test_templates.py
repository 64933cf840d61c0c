"""The shipped x86 tuning templates: default and random configs match their numpy references."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ops_x86.template_checks import check_template_configs
from tex import tune

CASES: list[tuple[str, tuple[Any, ...]]] = [
    ("matmul", (37, 70, 19, "float32")),
    ("dense", (5, 70, 33, True, "relu", "float32")),
    ("dense", (16, 32, 8, False, "tanh", "float32")),
    ("batch_matmul", (2, 17, 40, 9, True, "float32")),
    ("batch_matmul", (3, 8, 20, 5, False, "float32")),
    ("conv2d_nchw", ((1, 16, 9, 9), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True, "relu", "float32")),
    ("conv2d_nchw", ((2, 3, 12, 12), (16, 3, 5, 5), (2, 2), (2, 2, 2, 2), (1, 1), False, None, "float32")),
    ("conv2d_nchw", ((1, 24, 7, 7), (40, 24, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True, "relu", "float32", True)),
    ("conv2d_nchw", ((1, 8, 6, 6), (16, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False, None, "float32", True, True)),
    # blocked data / output (passes/layout.py): by the config's blocks (a model's tuning task) or explicit ones
    ("conv2d_nchw", ((1, 16, 8, 8), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True, "relu", "float32", True,
                     False, "NCHWc", "NCHWc")),
    ("conv2d_nchw", ((1, 16, 6, 6), (16, 16, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), True, "relu", "float32", True,
                     True, "NCHWc", "NCHWc")),
    ("conv2d_nchw", ((1, 16, 6, 7), (8, 16, 3, 3), (2, 2), (1, 0, 1, 2), (1, 1), False, None, "float32", True,
                     False, "NCHW4c", "NCHW")),
    ("conv2d_nchw", ((1, 8, 6, 6), (24, 8, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1), False, None, "float32", True,
                     False, "NCHW", "NCHW8c")),
    ("conv2d_nchw_direct", ((1, 8, 10, 10), (12, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), "float32")),
    ("conv2d_nchw_direct", ((1, 4, 9, 9), (6, 4, 3, 3), (2, 2), (0, 0, 0, 0), (2, 2), "float32")),
    ("depthwise_conv2d_nchw", ((1, 8, 15, 15), (8, 1, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True, "relu", "float32")),
]


@pytest.mark.parametrize(("name", "args"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_template_configs_match_reference(name: str, args: tuple[Any, ...]) -> None:
    task = check_template_configs(name, args)
    assert task.flop > 0


def test_template_flop_counts() -> None:
    assert tune.create_task("matmul", (4, 5, 6, "float32")).flop == 2 * 4 * 5 * 6
    conv = tune.create_task("conv2d_nchw", ((1, 16, 8, 8), (32, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False,
                                            None, "float32"))
    assert conv.flop == 2 * 32 * 16 * 9 * 8 * 8


@pytest.mark.parametrize(("layouts", "prepacked", "match"), [
    (("NCHW8c", "NCHW"), True, "data_layout block 8 does not divide the 12 channels"),
    (("NCHW", "NCHW5c"), True, "out_layout block 5 does not divide the 16 channels"),
    (("NCHWc", "NCHWc"), False, "need prepacked_weight=True"),
    (("NHWC", "NCHW"), True, "data_layout must be 'NCHW' or 'NCHW<b>c'"),
])
def test_conv_layout_errors(layouts: tuple[str, str], prepacked: bool, match: str) -> None:
    args = ((1, 12, 6, 6), (16, 12, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False, None, "float32", prepacked, False)
    with pytest.raises(ValueError, match=match):
        tune.create_task("conv2d_nchw", args + layouts).instantiate(None)


def test_conv_register_tile_larger_than_the_register_file_is_refused() -> None:
    """A tile of more vector accumulators than registers always spills: an invalid config (the tuner records
    it without timing it), with the tile and the register count in the message."""
    from tex.ops.x86.isa import vector_lanes, vector_registers
    task = tune.create_task("conv2d_nchw", ((1, 64, 28, 28), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False,
                                            None, "float32", True))
    lanes = vector_lanes()
    big = next(c for c in task.config_space if c.value("reg_h") * c.value("reg_n")[-1] * -(-c.value("oc_bn") // lanes)
               > vector_registers())
    with pytest.raises(ValueError, match=rf"vector accumulators does not fit the {vector_registers()} vector"):
        task.instantiate(big)
    task.instantiate(task.config_space.default())  # the default always fits
