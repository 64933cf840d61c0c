"""conv2d NCHW x OIHW for OpenCL: `conv2d_nchw_opencl_compute`, `schedule_conv2d_opencl` and the tuning template
"conv2d_nchw_opencl".

    out[b, o, y, x] = sum_{c, ry, rx} pad[b, c, y*sh + ry*dh, x*sw + rx*dw] * weight[o, c, ry, rx]

Each work-item computes one output row segment: toc output channels x tow output columns, accumulated in
private memory (set_scope "local", computed at the threadIdx.x loop). Work-groups are gz x gy x gx
work-items over (output rows of all images, output-channel tiles, output-column tiles):

    o = (bo*gy + to)*toc + oi,   x = (bx*gx + tx)*tow + xi,   b*oh + y = bz*gz + tz

so blockIdx = (ceil(ow/(tow*gx)), ceil(oc/(toc*gy)), ceil(n*oh/gz)) and threadIdx = (gx, gy, gz). No factor
has to divide its extent: the accumulators cover the whole grid (channels and columns rounded up, see
conv2d_nchw_opencl_compute) and only the copy to the output is guarded.

Padding is a stage of its own, staged in private memory rather than inlined or computed at the root: a
kernel is one launch with no grid-wide barrier, so a padded copy at the root is impossible, and inlining
the guarded read puts a `select` next to every multiply-add (toc*kw guards per input value instead of one)
and keeps the loop from printing as floatN code. The padded input row that one (c, ry) step reads is
copied, guards evaluated once per value, into a private array computed at the ry loop; the multiply-adds
read it (with vec > 1: vloadN into floatN accumulators) and broadcast the weight. With a stride sw > 1 the
row is stored in sw phases (pad[.., ph, xq] holds column xq*sw + ph), so the columns x*sw + rx*dw of
consecutive x are again consecutive and load as one vector.
`vec` is the floatN width along the output columns (capped at tow; 1: scalar code, the default: on PoCL
LLVM vectorizes the unrolled scalar tile better than it compiles the floatN one, see default_blocking).

With `shared` (the GPU way; off by default) the reduction over input channels is split by unroll_rc and, at
each step, the padded input window the whole work-group reads for those channels is staged in __local memory:
the pad stage is computed at the rc.outer loop, inside the thread loops, so bound inference widens it to the
group's window (unroll_rc channels x (gz-1)*sh + (kh-1)*dh + 1 rows x its columns, when gz divides the
output rows; otherwise the rows of every image the group may touch), and is copied by the gz*gy*gx work-items
in rounds (fused, split by the group's own thread extents so the two barriers around the copy are outside any
thread guard; the last round's tail is guarded). The padding guards are evaluated once per staged value. Each
work-item then copies its private row from the __local window at ry, as without `shared`. A window over the
device's local memory is a BuildError (an invalid config in tuning). The weights are read from global memory:
with oc not a multiple of toc*gy the clamped channel index would make bound inference stage every channel.
It is for GPUs: on PoCL (CPU) it is slower, more so the more barriers (64ch 56x56 3x3, default blocking:
3.5 ms, 31 ms with shared, 8.5 ms with shared and unroll_rc=4), as PoCL runs each barrier region as a loop
over the group's work-items with the private accumulators live across the barriers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tex.lang import dsl
from tex.lang.tensor import Tensor
from tex.ops.nn.conv2d import conv_output_hw
from tex.ops.reference import conv2d_reference
from tex.schedule import Schedule, create_schedule
from tex.tune import get_config, template

Array = np.ndarray


@dataclass(frozen=True)
class OpenCLConvBlocking:
    """The work-item tile, the work-group shape, reduction unrolling and the vector width (module doc)."""

    toc: int = 8            # output channels per work-item
    tow: int = 8            # output columns per work-item
    gz: int = 1             # work-group extent along output rows
    gy: int = 8             # work-group extent along output-channel tiles
    gx: int = 1             # work-group extent along output-column tiles
    unroll_rc: int = 1      # input channels per unrolled reduction step
    unroll_window: bool = True  # unroll the ry, rx loops
    vec: int = 1            # floatN width along the output columns (1: scalar code; see default_blocking)
    shared: bool = False    # stage the group's input window in __local memory per unroll_rc channels (module doc)


@dataclass(frozen=True)
class OpenCLConv:
    """The tensors of the conv: inputs, the padded input, the conv over the launch's whole grid, the output."""

    data: Tensor
    weight: Tensor
    pad: Tensor
    conv: Tensor
    tile: Tensor    # a copy of conv's private tile for the guarded copy out (see schedule_conv2d_opencl)
    out: Tensor


def _pairs(name: str, value: Sequence[int], n: int) -> tuple[int, ...]:
    t = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(t) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in t):
        raise ValueError(f"conv2d_nchw_opencl: {name} must be {n} ints, got {value!r}")
    return tuple(int(v) for v in t)


def check_conv_args(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int], padding: Sequence[int],
                    dilation: Sequence[int]) -> tuple[int, int]:
    """Validate the arguments (ValueError naming the argument); returns (oh, ow)."""
    sh = _pairs("data_shape", shape, 4)
    ws = _pairs("weight_shape", wshape, 4)
    st = _pairs("strides", strides, 2)
    pd = _pairs("padding", padding, 4)
    dl = _pairs("dilation", dilation, 2)
    for name, t in (("data_shape", sh), ("weight_shape", ws), ("strides", st), ("dilation", dl)):
        if min(t) < 1:
            raise ValueError(f"conv2d_nchw_opencl: {name} must be positive, got {t}")
    if min(pd) < 0:
        raise ValueError(f"conv2d_nchw_opencl: padding must be >= 0, got {pd}")
    if ws[1] != sh[1]:
        raise ValueError(f"conv2d_nchw_opencl: weight_shape has {ws[1]} input channels, data_shape has {sh[1]}")
    oh, ow = conv_output_hw(sh, ws, st, pd, dl)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_nchw_opencl: output size would be {oh}x{ow} (data_shape {sh}, weight_shape {ws}, "
                         f"strides {st}, padding {pd}, dilation {dl}); it must be at least 1x1")
    return oh, ow


def _round_up(v: int, m: int) -> int:
    return -(-v // m) * m


def conv2d_nchw_opencl_compute(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
                               padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1),
                               dtype: str = "float32",
                               blocking: OpenCLConvBlocking = OpenCLConvBlocking()) -> OpenCLConv:
    """The conv's computes; padding is (top, left, bottom, right).

    `conv` covers the whole launch grid: ocp = oc rounded up to toc*gy channels (the weight index clamped,
    so the extra channels read valid memory and are never stored) and owp = ow rounded up to tow*gx
    columns (the padded input widened with zeros to match). So the private tile never needs a bounds
    check: its accumulators stay in registers, and only the copy to `out` is guarded.
    """
    oh, ow = check_conv_args(shape, wshape, strides, padding, dilation)
    n, c, h, w = shape
    oc, _, kh, kw = wshape
    (sh, sw), (dh, dw) = strides, dilation
    pt, pl, pb, pr = padding
    b = blocking
    ocp, owp = _round_up(oc, b.toc * b.gy), _round_up(ow, b.tow * b.gx)
    # Columns of the padded input that the grid reads; with a stride, in `sw` phases of wq columns each.
    wq = owp + (kw - 1) * dw // sw
    wpe = max(w + pl + pr, (owp - 1) * sw + (kw - 1) * dw + 1) if sw == 1 else wq * sw
    data = dsl.placeholder(tuple(shape), dtype=dtype, name="data")
    weight = dsl.placeholder(tuple(wshape), dtype=dtype, name="weight")
    zero = dsl.const(0, dtype)

    def fpad(bb: object, ch: object, y: object, x: object) -> object:
        sides = ((y >= pt, pt), (y < h + pt, pb), (x >= pl, pl), (x < w + pl, wpe - w - pl))  # type: ignore[operator]
        conds = [g for g, p in sides if p > 0]
        v = data[bb, ch, y - pt, x - pl]  # type: ignore[index,operator]
        return dsl.if_then_else(dsl.all(*conds), v, zero) if conds else v

    rc = dsl.reduce_axis((0, c), name="rc")
    ry = dsl.reduce_axis((0, kh), name="ry")
    rx = dsl.reduce_axis((0, kw), name="rx")
    if sw == 1:
        pad = dsl.compute((n, c, h + pt + pb, wpe), fpad, name="pad")

        def read(bb: object, y: object, x: object) -> object:
            return pad[bb, rc, y * sh + ry * dh, x + rx * dw]  # type: ignore[index,operator]
    else:
        # pad[b, c, y, ph, xq] = padded[b, c, y, xq*sw + ph]: the columns x*sw + rx*dw that one rx step
        # reads for consecutive x are consecutive in phase (rx*dw) % sw, so they load as one vector.
        pad = dsl.compute((n, c, h + pt + pb, sw, wq),
                          lambda bb, ch, y, ph, xq: fpad(bb, ch, y, xq * sw + ph), name="pad")  # type: ignore[operator]

        def read(bb: object, y: object, x: object) -> object:
            return pad[bb, rc, y * sh + ry * dh, rx * dw % sw, x + rx * dw // sw]  # type: ignore[index,operator]

    def wo(o: object) -> object:
        return dsl.min(o, dsl.const(oc - 1, "int32")) if ocp > oc else o  # type: ignore[arg-type]

    conv = dsl.compute((n, ocp, oh, owp), lambda bb, o, y, x: dsl.sum(
        read(bb, y, x) * weight[wo(o), rc, ry, rx], axis=[rc, ry, rx]), name="conv", tag="conv2d_nchw")
    tile = dsl.compute((n, ocp, oh, owp), lambda bb, o, y, x: conv[bb, o, y, x], name="tile")
    out = dsl.compute((n, oc, oh, ow), lambda bb, o, y, x: tile[bb, o, y, x], name="out", tag="conv2d_nchw")
    return OpenCLConv(data, weight, pad, conv, tile, out)


def schedule_conv2d_opencl(s: Schedule, t: OpenCLConv, blocking: OpenCLConvBlocking = OpenCLConvBlocking()) -> None:
    """Bind the conv to work-groups/work-items with a private toc x tow tile per work-item (module doc);
    `t` must come from conv2d_nchw_opencl_compute with the same blocking."""
    b = blocking
    out, acc, row, tile = t.out, t.conv, t.pad, t.tile
    s[acc].set_scope("local")
    s[tile].set_scope("local")
    s[row].set_scope("local")
    n, o, y, x = s[out].op.axis
    oo, oi = s[out].split(o, b.toc)
    xo, xi = s[out].split(x, b.tow)
    bo, to = s[out].split(oo, b.gy)
    bx, tx = s[out].split(xo, b.gx)
    s[out].reorder(n, y, bo, bx, to, tx, oi, xi)
    bz, tz = s[out].split(s[out].fuse(n, y), b.gz)
    s[out].reorder(bz, bo, bx, tz, to, tx, oi, xi)
    for ax, tag in ((bz, "blockIdx.z"), (bo, "blockIdx.y"), (bx, "blockIdx.x"),
                    (tz, "threadIdx.z"), (to, "threadIdx.y"), (tx, "threadIdx.x")):
        s[out].bind(ax, dsl.thread_axis(tag))
    s[acc].compute_at(s[out], tx)
    s[tile].compute_at(s[out], tx)
    _, co, _, cx = s[acc].op.axis
    _, to_, _, tx_ = s[tile].op.axis
    rc, ry, rx = s[acc].op.reduce_axis
    rco, rci = s[acc].split(rc, b.unroll_rc)
    vec = min(b.vec, b.tow)
    if vec > 1:
        cxo, cxv = s[acc].split(cx, vec)
        s[acc].reorder(rco, rci, ry, rx, co, cxo, cxv)
        s[acc].unroll(cxo)
        s[acc].vectorize(cxv)   # floatN accumulators, vloadN of the staged row, a broadcast of the weight
        txo, txv = s[tile].split(tx_, vec)
        s[tile].unroll(txo)
        s[tile].vectorize(txv)
    else:
        s[acc].reorder(rco, rci, ry, rx, co, cx)
        s[acc].unroll(cx)
        s[tile].unroll(tx_)
    s[tile].unroll(to_)
    ow = int(out.shape[3])  # type: ignore[arg-type]
    if vec > 1 and ow % (b.tow * b.gx) == 0 and b.tow % vec == 0:
        xio, xiv = s[out].split(xi, vec)
        s[out].unroll(xio)
        s[out].vectorize(xiv)   # vstoreN
    else:
        # Unrolled with an `if` per element: a vector loop's tail would index the tile with a loop variable.
        # The tile is a copy, so only the copy lives in memory; the accumulators, only ever accessed as whole
        # aligned vectors, are a private floatN array (vector registers).
        s[out].unroll(xi)
    s[acc].unroll(co)
    s[out].unroll(oi)
    if b.unroll_rc > 1:
        s[acc].unroll(rci)
    if b.unroll_window:
        s[acc].unroll(ry)
        s[acc].unroll(rx)
    if b.shared:
        # The padded input the work-group reads for unroll_rc channels, in __local memory: computed at rco
        # (inside the thread loops; bound inference widens it to the whole group), copied by the group's
        # work-items between two barriers. Each work-item then copies its row from there at ry, as before.
        s[row].set_scope("shared")
        s[row].compute_at(s[acc], rco)
        _fill(s, row, b.gz, b.gy, b.gx)
        row = s.cache_read(row, "local", [acc])
    s[row].compute_at(s[acc], ry)
    for ax in s[row].op.axis[3:]:
        s[row].unroll(ax)


def _fill(s: Schedule, X: Tensor, gz: int, gy: int, gx: int) -> None:
    """Copy the shared stage X as rounds of gz x gy x gx work-items (the compute's thread extents, so the
    barriers stay outside any thread guard); the tail of the last round is guarded."""
    fused = s[X].fuse(*s[X].op.axis)
    _, inner = s[X].split(fused, gz * gy * gx)
    z, yx = s[X].split(inner, gy * gx)
    y, x = s[X].split(yx, gx)
    for ax, tag in ((z, "threadIdx.z"), (y, "threadIdx.y"), (x, "threadIdx.x")):
        s[X].bind(ax, dsl.thread_axis(tag))


# ---------------------------------------------------------------- the template
def _ref(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
         padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1),
         dtype: str = "float32") -> Callable[[Array, Array], Array]:
    return lambda x, w: conv2d_reference(x, w, strides, padding, dilation).astype(dtype)


def _flop(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
          padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1), dtype: str = "float32") -> float:
    oh, ow = conv_output_hw(shape, wshape, strides, padding, dilation)
    return 2.0 * shape[0] * wshape[0] * wshape[1] * wshape[2] * wshape[3] * oh * ow


def default_blocking(oc: int, rows: int, ow: int, window: int = 9) -> OpenCLConvBlocking:
    """8 channels x 8 columns per work-item, fully unrolled over the window, in scalar code (vec=1), and
    work-groups of up to 64 work-items whose extents divide the tile counts where possible (the grid's
    excess work-items compute values that are never stored).

    Scalar because it measured faster on PoCL 3.1 (haswell target, 64ch 56x56 and 256ch 14x14, stride 1
    and 2): LLVM's SLP vectorizer turns the unrolled tile into the same 8-wide FMAs as the floatN version
    (216 vfmadd per kernel in both) but keeps the staged row in registers, where the floatN version spills
    broadcasts and loads the row back from the stack: about 2x fewer CPU-seconds. On a GPU a scalar tile per
    work-item is the natural form. `rows` is batch x output height, `window` kh x kw: above 3x3 the tile has
    4 channels, as PoCL's compile time grows faster than the unrolled body (7x7: 12 s for 8 channels, 2 s for 4)."""
    tow = 8 if ow > 4 else 4
    toc = 8 if oc > 4 and window <= 9 else 4 if oc > 2 else 1
    gx = _fit(-(-ow // tow), 8)
    gy = _fit(-(-oc // toc), min(16, 64 // gx))
    gz = _fit(rows, min(8, 64 // (gx * gy)))
    return OpenCLConvBlocking(toc=toc, tow=tow, gz=gz, gy=gy, gx=gx, unroll_rc=1, unroll_window=True, vec=1)


def _fit(tiles: int, cap: int) -> int:
    """The largest power of two up to `cap` that divides `tiles` (1 if none does)."""
    p = 1
    while p * 2 <= cap and tiles % (p * 2) == 0:
        p *= 2
    return p


def _tile_candidates(extent: int, per_item: Sequence[int], per_group: Sequence[int],
                     default: tuple[int, int]) -> list[list[int]]:
    """Splits [-1, group, item] of an axis whose grid (extent rounded up to group*item) wastes at most a third
    of its work-items: they compute values that are never stored. The default is always a candidate."""
    out = [[-1, g, t] for g in per_group for t in per_item
           if _round_up(extent, g * t) * 2 <= extent * 3 or g * t == 1]
    if [-1, *default] not in out:
        out.append([-1, *default])
    return out


@template("conv2d_nchw_opencl", reference=_ref, flop=_flop)
def conv2d_nchw_opencl(shape: Sequence[int], wshape: Sequence[int], strides: Sequence[int] = (1, 1),
                       padding: Sequence[int] = (0, 0, 0, 0), dilation: Sequence[int] = (1, 1),
                       dtype: str = "float32") -> tuple[Schedule, list[Tensor]]:
    """NCHW x OIHW conv2d on an OpenCL device. Knobs: tile_oc = [-1, gy, toc] and tile_ow = [-1, gx, tow]
    (work-group extent and work-item tile along output channels / columns), gz (work-group extent along
    output rows), unroll_rc and unroll_window (reduction unrolling), vec (floatN width along ow), shared (stage
    the work-group's input window in __local memory, module doc)."""
    oh, ow = check_conv_args(shape, wshape, strides, padding, dilation)
    d = default_blocking(wshape[0], shape[0] * oh, ow, wshape[2] * wshape[3])
    cfg = get_config()
    sizes, groups = [1, 2, 4, 8, 16], [1, 2, 4, 8, 16]
    cfg.define_split("tile_oc", wshape[0], policy="candidate", num_outputs=3,
                     candidate=_tile_candidates(wshape[0], sizes, groups, (d.gy, d.toc)), default=[-1, d.gy, d.toc])
    cfg.define_split("tile_ow", ow, policy="candidate", num_outputs=3,
                     candidate=_tile_candidates(ow, sizes, groups, (d.gx, d.tow)), default=[-1, d.gx, d.tow])
    cfg.define_knob("gz", [1, 2, 4, 8], default=d.gz)
    cfg.define_knob("unroll_rc", [1, 2, 4], default=d.unroll_rc)
    cfg.define_knob("unroll_window", [True, False], default=d.unroll_window)
    cfg.define_knob("vec", [1, 4, 8, 16], default=d.vec)  # capped at tow
    cfg.define_knob("shared", [0, 1], default=0)  # the group's input window in __local memory: for GPUs
    _, gy, toc = cfg["tile_oc"].size
    _, gx, tow = cfg["tile_ow"].size
    blocking = OpenCLConvBlocking(toc, tow, cfg["gz"].val, gy, gx, cfg["unroll_rc"].val, cfg["unroll_window"].val,
                                  cfg["vec"].val, bool(cfg["shared"].val))
    t = conv2d_nchw_opencl_compute(shape, wshape, strides, padding, dilation, dtype, blocking)
    s = create_schedule(t.out)
    schedule_conv2d_opencl(s, t, blocking)
    return s, [t.data, t.weight, t.out]
