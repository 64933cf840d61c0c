"""Register tiles sized to the host's vector registers, and the guard-free padded matmul/dense/bmm kernels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
import tex.ops.x86.templates
from tex import tune
from tex.ops.x86.batch_matmul import BatchMatmulBlocking, batch_matmul, schedule_batch_matmul
from tex.ops.x86.dense import DenseBlocking, dense, pack_dense_weight, schedule_dense
from tex.ops.x86.isa import register_tiles, vector_lanes, vector_registers
from tex.ops.x86.matmul import MatmulBlocking, host_blocking, matmul_packed, schedule_matmul_packed


def rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(("lanes", "regs"), [(8, 16), (4, 16)])
def test_register_tiles_fit_the_register_file(lanes: int, regs: int) -> None:
    tiles = register_tiles(lanes, regs)
    assert tiles == register_tiles(lanes, regs)  # deterministic: the space version depends on it
    assert len(set(tiles)) == len(tiles)
    for r, c in tiles:
        vecs = c // lanes
        assert c % lanes == 0
        assert r * vecs + vecs + 1 <= regs, (r, c)  # accumulators + B vectors + one broadcast


def test_register_tiles_per_isa() -> None:
    assert register_tiles(8, 16)[0] == (6, 16)  # the AVX2 (BLIS Haswell) micro-kernel
    assert (8, 32) not in register_tiles(8, 16)  # 32 accumulators: spills on AVX2
    assert (4, 24) in register_tiles(8, 16) and (3, 32) not in register_tiles(8, 16)  # 16 and 17 registers
    avx512 = register_tiles(16, 32)
    assert avx512[0] == (8, 32)  # unchanged on AVX-512
    assert {r for r, _ in avx512} == {1, 2, 4, 6, 8, 12, 16} and {c for _, c in avx512} == {16, 32, 48, 64}
    assert register_tiles() == register_tiles(vector_lanes(), vector_registers())


def test_host_blocking_is_a_host_tile() -> None:
    b = host_blocking()
    assert (b.tile_m, b.tile_n) == register_tiles()[0]
    assert b.vector == vector_lanes()
    assert b.panel_outer == (vector_lanes() < 16)  # AVX-512 keeps row tiles in parallel


def test_panel_outer_packs_each_panel_in_the_parallel_loop() -> None:
    A, B, Bp, C = matmul_packed(64, 64, 32, bn=16, tile_m=4)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, MatmulBlocking(4, 16, 4, vector=8, panel_outer=True))
    ir = str(tex.lower(s, [A, B, C]))
    lines = [ln.strip() for ln in ir.splitlines()]
    assert lines[1].startswith("for j.outer") and lines[1].endswith("# parallel")  # one parallel region
    assert lines[2].startswith("Bp = allocate(float32[1, 32, 16]")  # one panel per iteration
    assert sum("# parallel" in ln for ln in lines) == 1


@pytest.mark.parametrize("name", ["matmul", "dense", "batch_matmul"])
def test_template_tiles_come_from_the_host(name: str) -> None:
    args = {"matmul": (5, 70, 9, "float32"), "dense": (5, 70, 9, False, None, "float32"),
            "batch_matmul": (2, 5, 70, 9, False, "float32")}[name]
    space = tune.create_task(name, args).config_space
    assert space.version() == tune.create_task(name, args).config_space.version()
    tiles = list(space.knobs["tile"].candidates)
    host = [f"{r}x{c}" for r, c in register_tiles()]
    assert tiles == [t for t in host if int(t.split("x")[0]) <= 5]
    assert space.default().value("tile") == tiles[0]


def _reduction_lines(ir: str) -> list[str]:
    """The statements nested in the first `for k.outer` loop of a lowered kernel."""
    lines = ir.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith("for k.outer"))
    indent = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for ln in lines[start + 1:]:
        if len(ln) - len(ln.lstrip()) <= indent:
            break
        body.append(ln.strip())
    return body


def test_k_loop_has_no_row_guard() -> None:
    # 6 does not divide 20: the tile's rows used to be guarded inside the k loop (LLVM then spilled the tile)
    b = MatmulBlocking(6, 16, 4, vector=8, panel_outer=True)
    A, B, Bp, C = matmul_packed(20, 40, 32, bn=16, tile_m=6)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, b)
    f = tex.build(s, [A, B, C])
    body = _reduction_lines(f.get_source("ir"))
    assert body and not any(ln.startswith("if ") for ln in body), body
    assert any("ramp(" in ln and ", 8)" in ln for ln in body)  # native 8-lane vectors
    a, bb, c = rand(20, 32), rand(32, 40), np.full((20, 40), np.nan, np.float32)
    f(a, bb, c)
    np.testing.assert_allclose(c, a @ bb, rtol=1e-4, atol=1e-4)


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 30), n=st.integers(1, 70), k=st.integers(1, 20), tile=st.sampled_from(register_tiles(8, 16)),
       unroll_k=st.sampled_from([1, 2, 4]), order=st.sampled_from(["panels", "rows", "tiles"]),
       parallel=st.booleans())
def test_padded_matmul_property(m: int, n: int, k: int, tile: tuple[int, int], unroll_k: int, order: str,
                                parallel: bool) -> None:
    tm, tn = tile
    b = MatmulBlocking(tm, tn, unroll_k, parallel, fuse_parallel=order == "tiles", vector=8,
                       panel_outer=order == "panels")
    A, B, Bp, C = matmul_packed(m, n, k, bn=tn, tile_m=tm)
    s = tex.create_schedule(C)
    schedule_matmul_packed(s, Bp, C, b)
    f = tex.build(s, [A, B, C])
    a, bb, c = rand(m, k), rand(k, n), np.full((m, n), np.nan, np.float32)
    f(a, bb, c)
    np.testing.assert_allclose(c, a @ bb, rtol=1e-4, atol=1e-4 * k)


@settings(max_examples=8, deadline=None)
@given(m=st.integers(1, 20), n=st.integers(1, 50), k=st.integers(1, 20), tile=st.sampled_from(register_tiles(8, 16)),
       activation=st.sampled_from([None, "relu"]))
def test_padded_dense_property(m: int, n: int, k: int, tile: tuple[int, int], activation: str | None) -> None:
    tm, tn = tile
    d = dense(m, n, k, bn=tn, bias=True, activation=activation, tile_m=tm)
    s = tex.create_schedule(d.out)
    schedule_dense(s, d, DenseBlocking(tm, tn, 2, vector=8))
    f = tex.build(s, [d.x, d.weight, d.bias, d.out])
    x, w, bias = rand(m, k), rand(n, k), rand(n)
    out = np.full((m, n), np.nan, np.float32)
    f(x, pack_dense_weight(w, tn), bias, out)
    want = x @ w.T + bias
    np.testing.assert_allclose(out, np.maximum(want, 0) if activation else want, rtol=1e-4, atol=1e-4 * k)


@settings(max_examples=8, deadline=None)
@given(batch=st.integers(1, 3), m=st.integers(1, 20), n=st.sampled_from([5, 16, 24, 48]), k=st.integers(1, 20),
       tile=st.sampled_from(register_tiles(8, 16)), transpose_b=st.booleans())
def test_padded_batch_matmul_property(batch: int, m: int, n: int, k: int, tile: tuple[int, int],
                                      transpose_b: bool) -> None:
    tm, tn = tile
    A, B, C = batch_matmul(batch, m, n, k, transpose_b=transpose_b, tile_m=tm)
    s = tex.create_schedule(C)
    schedule_batch_matmul(s, C, BatchMatmulBlocking(tm, tn, 2, vector=8))
    f = tex.build(s, [A, B, C])
    a, b = rand(batch, m, k), rand(*B.shape)
    c = np.full((batch, m, n), np.nan, np.float32)
    f(a, b, c)
    np.testing.assert_allclose(c, a @ (b.transpose(0, 2, 1) if transpose_b else b), rtol=1e-4, atol=1e-4 * k)


@pytest.mark.parametrize(("fn", "kwargs", "match"), [
    (matmul_packed, {"tile_m": 0}, "matmul_packed: tile_m must be >= 1"),
    (dense, {"tile_m": 0}, "dense: tile_m must be >= 1"),
    (batch_matmul, {"tile_m": 0}, "batch_matmul: tile_m must be >= 1"),
])
def test_bad_tile_arguments(fn: object, kwargs: dict[str, int], match: str) -> None:
    args = (2, 4, 4, 4) if fn is batch_matmul else (4, 4, 4)
    with pytest.raises(ValueError, match=match):
        fn(*args, **kwargs)  # type: ignore[operator]


def test_schedule_rejects_negative_vector() -> None:
    A, B, Bp, C = matmul_packed(8, 16, 8, bn=16)
    with pytest.raises(ValueError, match="schedule_matmul_packed: vector must be >= 0, got -8"):
        schedule_matmul_packed(tex.create_schedule(C), Bp, C, MatmulBlocking(4, 16, vector=-8))


def test_matmul_space_offers_whole_b_packing_only_for_few_panels() -> None:
    # packing all of B allocates a B-sized buffer per call (page faults outside the tuner's worker)
    wide = tune.create_task("matmul", (64, 4096, 8, "float32")).config_space.knobs["parallel"]
    narrow = tune.create_task("matmul", (64, 8, 8, "float32")).config_space.knobs["parallel"]
    assert list(narrow.candidates) == ["panels", "rows", "tiles"]
    assert list(wide.candidates) == (["panels"] if host_blocking().panel_outer else ["panels", "rows", "tiles"])
