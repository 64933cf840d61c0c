"""Illegal schedule requests raise ScheduleError naming the stage and the axis."""

import pytest

import tex


def _gemm(m=16, n=12, k=8):
    A = tex.placeholder((m, k), name="A")
    B = tex.placeholder((k, n), name="B")
    r = tex.reduce_axis((0, k), name="k")
    C = tex.compute((m, n), lambda i, j: tex.sum(A[i, r] * B[r, j], axis=r), name="C")
    return A, B, C


def test_split_factor_must_be_positive():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    with pytest.raises(tex.ScheduleError, match=r"split\(C, axis 'i'\): factor must be a positive int, got 0"):
        s[C].split(C.op.axis[0], factor=0)


def test_split_needs_exactly_one_of_factor_and_nparts():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    with pytest.raises(tex.ScheduleError, match="exactly one of factor= or nparts="):
        s[C].split(C.op.axis[0], factor=2, nparts=2)


def test_split_of_an_already_split_axis():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    s[C].split(C.op.axis[0], factor=4)
    with pytest.raises(tex.ScheduleError, match=r"split\(C, axis 'i'\): it was already split or fused"):
        s[C].split(C.op.axis[0], factor=2)


def test_reorder_axes_of_another_stage():
    A, _, C = _gemm()
    D = tex.compute(C.shape, lambda i, j: C[i, j] + 1.0, name="D")
    s = tex.create_schedule(D)
    with pytest.raises(tex.ScheduleError, match=r"reorder\(D, axis 'i'\): it is not an axis of this stage"):
        s[D].reorder(C.op.axis[0], D.op.axis[1])


def test_fuse_needs_adjacent_axes():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    i, j = C.op.axis
    (k,) = C.op.reduce_axis
    with pytest.raises(tex.ScheduleError, match="must be adjacent loops"):
        s[C].fuse(i, k)


def test_vectorize_reduction_axis():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    with pytest.raises(tex.ScheduleError, match=r"vectorize\(C, axis 'k'\): a reduction axis cannot be vectorized"):
        s[C].vectorize(C.op.reduce_axis[0])


def test_parallel_reduction_axis():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    with pytest.raises(tex.ScheduleError, match=r"parallel\(C, axis 'k'\)"):
        s[C].parallel(C.op.reduce_axis[0])


def test_vectorize_not_innermost_is_rejected_at_lowering():
    A, B, C = _gemm()
    s = tex.create_schedule(C)
    s[C].vectorize(C.op.axis[1])
    with pytest.raises(tex.ScheduleError, match=r"vectorize\(C, axis 'j'\): .*innermost loop of C, but 'k'"):
        tex.lower(s, [A, B, C])


def test_compute_at_axis_not_of_parent():
    A, B, C = _gemm()
    D = tex.compute(C.shape, lambda i, j: C[i, j] * 2.0, name="D")
    s = tex.create_schedule(D)
    with pytest.raises(tex.ScheduleError, match=r"compute_at\(C, D axis 'i'\): the axis is not a loop of stage D"):
        s[C].compute_at(s[D], C.op.axis[0])


def test_compute_at_cycle():
    A, B, C = _gemm()
    D = tex.compute(C.shape, lambda i, j: C[i, j] * 2.0, name="D")
    s = tex.create_schedule(D)
    s[C].compute_at(s[D], D.op.axis[0])
    with pytest.raises(tex.ScheduleError, match="cycle"):
        s[D].compute_at(s[C], C.op.axis[0])


def test_compute_inline_of_reduction():
    _, _, C = _gemm()
    D = tex.compute(C.shape, lambda i, j: C[i, j] * 2.0, name="D")
    s = tex.create_schedule(D)
    with pytest.raises(tex.ScheduleError, match=r"compute_inline\(C\): a reduction cannot be inlined"):
        s[C].compute_inline()


def test_compute_inline_of_output():
    A = tex.placeholder((4,), name="A")
    B = tex.compute((4,), lambda i: A[i] + 1.0, name="B")
    s = tex.create_schedule(B)
    with pytest.raises(tex.ScheduleError, match="is an output"):
        s[B].compute_inline()


def test_cache_write_after_split():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    s[C].split(C.op.axis[0], 4)
    with pytest.raises(tex.ScheduleError, match=r"cache_write\(C, 'local'\): call cache_write before splitting"):
        s.cache_write(C, "local")


def test_bad_scope():
    _, _, C = _gemm()
    s = tex.create_schedule(C)
    with pytest.raises(tex.ScheduleError, match="scope must be one of global, local, shared, got 'register'"):
        s.cache_write(C, "register")


def test_attach_axis_split_afterwards():
    A, B, C = _gemm()
    D = tex.compute(C.shape, lambda i, j: C[i, j] * 2.0, name="D")
    s = tex.create_schedule(D)
    s[C].compute_at(s[D], D.op.axis[0])
    s[D].split(D.op.axis[0], 4)
    with pytest.raises(tex.ScheduleError, match="split or fused afterwards"):
        tex.lower(s, [A, B, D])


def test_missing_argument():
    A, B, C = _gemm()
    s = tex.create_schedule(C)
    with pytest.raises(tex.LoweringError, match="placeholder 'B' is read by C but is not among the arguments"):
        tex.lower(s, [A, C])
    with pytest.raises(tex.LoweringError, match="output 'C' is not among the arguments"):
        tex.lower(s, [A, B])


def test_integer_true_division_says_use_floordiv():
    n = tex.var("n")
    with pytest.raises(TypeError, match="use `//`"):
        tex.compute((8,), lambda i: (i + n) / 2)


def test_index_count_mismatch():
    A = tex.placeholder((4, 4), name="A")
    with pytest.raises(IndexError, match="tensor 'A' has 2 dimensions, indexed with 1"):
        A[1]
