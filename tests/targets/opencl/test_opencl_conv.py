"""The OpenCL conv2d template (tex/ops/opencl/conv2d.py) on the CI device: default and random configs against
numpy, a property test over small shapes and blockings, the shared (__local) input window, a short tuning run
and the argument errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex import tune
from tex.ops.opencl.conv2d import (
    OpenCLConvBlocking,
    conv2d_nchw_opencl,
    conv2d_nchw_opencl_compute,
    conv_output_hw,
    schedule_conv2d_opencl,
)
from tex.ops.reference import conv2d_reference
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
RNG = np.random.default_rng(5)

# (data shape, weight shape, strides, padding (top, left, bottom, right), dilation)
LAYERS = {
    "3x3_pad1": ((1, 8, 10, 10), (16, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    "3x3_stride2": ((1, 8, 11, 11), (12, 8, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),
    "1x1_batch2": ((2, 16, 7, 7), (20, 16, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),
    "7x7_stride2_pad3": ((1, 3, 20, 20), (8, 3, 7, 7), (2, 2), (3, 3, 3, 3), (1, 1)),
    "dilation2": ((1, 6, 12, 12), (10, 6, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),
    "odd_channels_asym_pad": ((1, 5, 9, 13), (7, 5, 3, 3), (1, 2), (0, 1, 1, 2), (1, 1)),
}


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def check(f: object, shape: tuple[int, ...], wshape: tuple[int, ...], strides: tuple[int, int],
          padding: tuple[int, ...], dilation: tuple[int, int], msg: str = "") -> None:
    x, w = rand(*shape), rand(*wshape)
    ref = conv2d_reference(x, w, strides, padding, dilation)
    y = np.full(ref.shape, np.nan, np.float32)  # every element must be written
    f(x, w, y)  # type: ignore[operator]
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4 * np.sqrt(wshape[1] * wshape[2] * wshape[3]),
                               err_msg=msg)


@pytest.mark.parametrize("layer", list(LAYERS))
def test_default_config(layer: str) -> None:
    args = LAYERS[layer]
    s, tensors = conv2d_nchw_opencl(*args, "float32")
    check(tex.build(s, tensors, target="opencl"), *args, msg=layer)


@pytest.mark.parametrize("stride", [1, 2])
def test_vector_blocking(stride: int) -> None:
    """vec=8 on a row the grid divides: floatN accumulators, vloadN of the staged row (in phases with a stride),
    vstoreN out."""
    args = ((1, 16, 16, 16), (16, 16, 3, 3), (stride, stride), (1, 1, 1, 1), (1, 1))
    b = OpenCLConvBlocking(toc=4, tow=8, gz=2, gy=4, gx=1, unroll_rc=1, unroll_window=True, vec=8)
    t = conv2d_nchw_opencl_compute(*args, blocking=b)
    s = tex.create_schedule(t.out)
    schedule_conv2d_opencl(s, t, b)
    f = tex.build(s, [t.data, t.weight, t.out], target="opencl")
    src = f.get_source("cl")
    assert "float8 conv[" in src and "vload8(0, pad" in src and "vstore8(" in src
    check(f, *args)


def test_random_configs_are_correct() -> None:
    args = LAYERS["odd_channels_asym_pad"]
    task = tune.create_task("conv2d_nchw_opencl", (*args, "float32"), target="opencl")
    rng = np.random.default_rng(11)
    for index in rng.choice(len(task.config_space), size=5, replace=False):
        cfg = task.config_space.get(int(index))
        s, tensors = task.instantiate(cfg)
        check(tex.build(s, tensors, target="opencl"), *args, msg=str(cfg))


GROUPS = [(1, 1, 1), (2, 2, 2), (1, 4, 2)]  # (gz, gy, gx)


# small random convolutions and blockings (non-dividing tiles included), shared by the two property tests
SMALL_CONV = dict(n=st.integers(1, 2), c=st.integers(1, 6), oc=st.integers(1, 9), h=st.integers(3, 9),
                  w=st.integers(3, 12), k=st.sampled_from([1, 2, 3]), stride=st.integers(1, 3), pad=st.integers(0, 2),
                  dil=st.integers(1, 2), toc=st.sampled_from([1, 2, 4]), tow=st.sampled_from([1, 3, 4, 8]),
                  unroll_rc=st.sampled_from([1, 2, 4]), unroll_window=st.booleans())


def check_small_conv(n: int, c: int, oc: int, h: int, w: int, k: int, stride: int, pad: int, dil: int, toc: int,
                     tow: int, g: tuple[int, int, int], unroll_rc: int, unroll_window: bool, vec: int,
                     shared: bool) -> None:
    shape, wshape = (n, c, h, w), (oc, c, k, k)
    strides, padding, dilation = (stride, stride), (pad, pad, pad, pad), (dil, dil)
    if min(conv_output_hw(shape, wshape, strides, padding, dilation)) < 1:
        return
    b = OpenCLConvBlocking(toc, tow, *g, unroll_rc, unroll_window, vec, shared=shared)  # type: ignore[call-arg,misc]
    check(build_blocking((shape, wshape, strides, padding, dilation), b), shape, wshape, strides, padding, dilation,
          msg=str(b))


@settings(max_examples=10, deadline=None)
@given(**SMALL_CONV, g=st.sampled_from(GROUPS), vec=st.sampled_from([1, 2, 4, 8]))
def test_property_small_shapes(**case: Any) -> None:
    check_small_conv(**case, shared=False)


# ---------------------------------------------------------------------------------------------- shared=1
SHARED_BLOCKINGS = {  # tiles that do not divide the layers, a reduction split, vectors, gz > 1
    "3x3_pad1": OpenCLConvBlocking(toc=4, tow=3, gz=2, gy=2, gx=2, unroll_rc=2, vec=1, shared=True),
    "3x3_stride2": OpenCLConvBlocking(toc=4, tow=4, gz=1, gy=2, gx=2, unroll_rc=4, vec=4, shared=True),
    "1x1_batch2": OpenCLConvBlocking(toc=8, tow=4, gz=3, gy=1, gx=2, unroll_rc=1, vec=1, shared=True),
    "7x7_stride2_pad3": OpenCLConvBlocking(toc=4, tow=4, gz=2, gy=2, gx=1, unroll_rc=2, unroll_window=False,
                                           vec=1, shared=True),
    "dilation2": OpenCLConvBlocking(toc=2, tow=8, gz=4, gy=2, gx=1, unroll_rc=4, vec=8, shared=True),
    "odd_channels_asym_pad": OpenCLConvBlocking(toc=2, tow=8, gz=1, gy=4, gx=2, unroll_rc=2, vec=2, shared=True),
}


def build_blocking(args: tuple, b: OpenCLConvBlocking) -> Any:  # type: ignore[type-arg]
    t = conv2d_nchw_opencl_compute(*args, blocking=b)
    s = tex.create_schedule(t.out)
    schedule_conv2d_opencl(s, t, b)
    return tex.build(s, [t.data, t.weight, t.out], target="opencl")


@pytest.mark.parametrize("layer", list(SHARED_BLOCKINGS))
def test_shared_blocking(layer: str) -> None:
    """The group's padded input window for unroll_rc channels in __local memory, filled between two barriers
    at each reduction step; every work-item copies its row from there."""
    args = LAYERS[layer]
    f = build_blocking(args, SHARED_BLOCKINGS[layer])
    src = f.get_source("cl")
    lines = [ln.strip() for ln in src.splitlines()]
    assert sum(ln.startswith("__local float pad[") for ln in lines) == 1
    barriers = [n for n, ln in enumerate(lines) if ln == "barrier(CLK_LOCAL_MEM_FENCE);"]
    fill = next(n for n, ln in enumerate(lines) if ln.startswith("pad["))
    read = next(n for n, ln in enumerate(lines) if ln.startswith("pad_local[") and "= pad[" in ln)
    assert len(barriers) == 2 and barriers[0] < fill < barriers[1] < read
    check(f, *args, msg=layer)


def test_shared_window_is_the_groups() -> None:
    """gz rows x (gx*tow + 2) columns of one channel for a 3x3 stride-1 conv whose grid divides the rows."""
    args = ((1, 4, 16, 16), (8, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    b = OpenCLConvBlocking(toc=4, tow=4, gz=4, gy=2, gx=2, unroll_rc=1, shared=True)
    t = conv2d_nchw_opencl_compute(*args, blocking=b)
    s = tex.create_schedule(t.out)
    schedule_conv2d_opencl(s, t, b)
    assert 'pad = allocate(float32[1, 1, 6, 10], "shared")' in str(tex.lower(s, [t.data, t.weight, t.out]))


def test_shared_window_over_local_memory_is_a_build_error() -> None:
    """gz=3 does not divide the 1024 output rows, so the window spans the whole padded height: 4 channels x
    1026 rows x 258 columns, more than the device's __local memory."""
    limit = opencl_devices()[0].local_mem_size
    h = max(1024, limit // (4 * 258 * 4) + 3)
    h += 1 if h % 3 == 0 else 0
    args = ((1, 4, h, 256), (8, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1))
    b = OpenCLConvBlocking(toc=1, tow=16, gz=3, gy=1, gx=16, unroll_rc=4, unroll_window=False, shared=True)
    with pytest.raises(tex.BuildError, match="local_mem_size"):
        build_blocking(args, b)


def test_shared_window_over_local_memory_is_an_invalid_tuning_record() -> None:
    """The same limit in tuning: the builder reports a compile error for the config, and tuning goes on."""
    args = ((1, 4, 1023, 256), (8, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), "float32")  # gz=2: all 1025 rows
    if opencl_devices()[0].local_mem_size >= 4 * 1025 * 258 * 4:
        pytest.skip("the device's local memory holds the window")
    task = tune.create_task("conv2d_nchw_opencl", args, target="opencl")
    cfg = next(c for c in (task.config_space.get(i) for i in range(len(task.config_space)))
               if c.value("shared") == 1 and c.value("gz") == 2 and c.value("unroll_rc") == 4
               and list(c.value("tile_ow"))[1:] == [16, 16])
    opt = tune.measure_option(builder=tune.LocalBuilder(n_parallel=1), runner=tune.LocalRunner(number=1, repeat=1))
    try:
        (res,) = opt.measure([tune.MeasureInput(task, cfg)])
    finally:
        opt.close()
    assert res.error_kind == tune.MeasureErrorKind.COMPILE_ERROR and "local_mem_size" in res.error_msg


def test_shared_random_template_configs() -> None:
    """A seeded sample of shared=1 configs of the template space."""
    args = LAYERS["3x3_stride2"]
    task = tune.create_task("conv2d_nchw_opencl", (*args, "float32"), target="opencl")
    rng = np.random.default_rng(12)
    picked = 0
    for index in rng.permutation(len(task.config_space)):
        cfg = task.config_space.get(int(index))
        if cfg.value("shared") != 1:
            continue
        s, tensors = task.instantiate(cfg)
        f = tex.build(s, tensors, target="opencl")
        assert "__local float pad[" in f.get_source("cl"), str(cfg)
        check(f, *args, msg=str(cfg))
        picked += 1
        if picked == 5:
            break
    assert picked == 5


def test_default_config_is_not_shared() -> None:
    s, tensors = conv2d_nchw_opencl(*LAYERS["3x3_pad1"], "float32")
    assert "shared" not in str(tex.lower(s, tensors))


@settings(max_examples=8, deadline=None)
@given(**SMALL_CONV, g=st.sampled_from([*GROUPS, (3, 1, 2)]), vec=st.sampled_from([1, 2, 4]))
def test_property_shared(**case: Any) -> None:
    check_small_conv(**case, shared=True)


def test_short_tuning_run(tmp_path: Path) -> None:
    args = ((1, 8, 12, 12), (8, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), "float32")
    task = tune.create_task("conv2d_nchw_opencl", args, target="opencl")
    assert task.flop == 2.0 * 8 * 8 * 9 * 12 * 12
    log = tmp_path / "conv.jsonl"
    opt = tune.measure_option(builder=tune.LocalBuilder(n_parallel=1), runner=tune.LocalRunner(number=2, repeat=1))
    try:
        tune.RandomTuner(task, seed=0).tune(8, opt, callbacks=[tune.callback.log_to_file(str(log))])
    finally:
        opt.close()
    records = tune.load_records(str(log))
    assert len(records) >= 8
    ok = [r for r in records if r.error == "NO_ERROR"]
    assert ok and all(r.target == "opencl" and np.isfinite(r.costs[0]) and r.costs[0] > 0 for r in ok)
    with tune.apply_history_best(str(log), target="opencl"):
        s, tensors = conv2d_nchw_opencl(*args)
    check(tex.build(s, tensors, target="opencl"), *args[:5])


@pytest.mark.parametrize("args, match", [
    (((1, 4, 8, 8), (8, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)), "weight_shape has 3 input channels, data_shape has 4"),
    (((1, 4, 2, 2), (8, 4, 5, 5), (1, 1), (0, 0, 0, 0), (1, 1)), "output size would be -2x-2"),
    (((1, 4, 8, 8), (8, 4, 3, 3), (1, 1), (1, 1, 1, 1), (5, 5)), "output size would be 0x0"),
    (((1, 4, 8, 8), (8, 4, 3, 3), (0, 1), (1, 1, 1, 1), (1, 1)), "strides must be positive"),
    (((1, 4, 8, 8), (8, 4, 3, 3), (1, 1), (1, -1, 1, 1), (1, 1)), "padding must be >= 0"),
    (((1, 4, 8, 8), (8, 4, 3, 3), (1, 1), (1, 1), (1, 1)), "padding must be 4 ints"),
    (((1, 4, 8), (8, 4, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)), "data_shape must be 4 ints"),
])
def test_bad_arguments(args: tuple, match: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=match):
        conv2d_nchw_opencl(*args, "float32")
