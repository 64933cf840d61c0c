"""Bad input to tex.ops raises a clear one-line error naming the tensor, axis or argument."""

from __future__ import annotations

import pytest

import tex
from tex import ops


def test_broadcast_mismatch_names_the_shapes() -> None:
    a, b = tex.placeholder((3, 4), name="a"), tex.placeholder((5,), name="b")
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\) do not broadcast"):
        ops.add(a, b)


def test_binary_needs_a_tensor() -> None:
    with pytest.raises(TypeError, match="add: at least one operand must be a tex Tensor"):
        ops.add(1, 2)
    with pytest.raises(TypeError, match="multiply: operand 1 must be a tex Tensor or a Python number, got str"):
        ops.multiply(tex.placeholder((2,), name="x"), "3")


def test_matmul_inner_dims() -> None:
    a, b = tex.placeholder((3, 4), name="a"), tex.placeholder((5, 6), name="b")
    with pytest.raises(ValueError, match=r"matmul: inner dims differ: 'a' \(3, 4\) @ 'b' \(5, 6\)"):
        ops.matmul(a, b)
    with pytest.raises(ValueError, match="dense: x must be"):
        ops.dense(a, b)


def test_conv2d_bad_arguments() -> None:
    x, w = tex.placeholder((1, 4, 8, 8), name="data"), tex.placeholder((8, 3, 3, 3), name="kernel")
    with pytest.raises(ValueError, match="conv2d_nchw: with groups=1, data channels 4 need kernel 'kernel'"):
        ops.conv2d_nchw(x, w)
    w4 = tex.placeholder((8, 4, 3, 3), name="w4")
    with pytest.raises(ValueError, match="conv2d_nchw: strides must be a positive int or a pair"):
        ops.conv2d_nchw(x, w4, strides=(0, 1))
    with pytest.raises(ValueError, match="conv2d_nchw: padding must be"):
        ops.conv2d_nchw(x, w4, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="conv2d_nchw: output of 'data' would be"):
        ops.conv2d_nchw(x, tex.placeholder((8, 4, 9, 9), name="big"))
    with pytest.raises(ValueError, match=r"conv2d_nchw: data and kernel must be 4-D"):
        ops.conv2d_nchw(tex.placeholder((4, 8, 8), name="d3"), w4)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_nchw: groups must equal the channels of 'data' \(4\)"):
        ops.depthwise_conv2d_nchw(x, tex.placeholder((4, 1, 3, 3)), groups=2)


def test_pool_and_softmax_errors() -> None:
    x = tex.placeholder((1, 2, 4, 4), name="x")
    with pytest.raises(ValueError, match="max_pool2d: output of 'x' would be"):
        ops.max_pool2d(x, (5, 5))
    with pytest.raises(TypeError, match="avg_pool2d: x must be a float tensor, got int8 tensor 'q'"):
        ops.avg_pool2d(tex.placeholder((1, 1, 4, 4), dtype="int8", name="q"), 2)
    with pytest.raises(ValueError, match="softmax: axis 4 is out of range for a tensor of 4 dimensions"):
        ops.softmax(x, axis=4)


def test_transform_errors() -> None:
    x = tex.placeholder((2, 3, 4), name="x")
    with pytest.raises(ValueError, match=r"reshape: tensor 'x' of shape \(2, 3, 4\) \(24 elements\) cannot take"):
        ops.reshape(x, (5, 5))
    with pytest.raises(ValueError, match=r"transpose: perm must be a permutation of 0..2 for tensor 'x'"):
        ops.transpose(x, (0, 0, 1))
    with pytest.raises(ValueError, match=r"concatenate: tensor 'y' has shape \(2, 5, 4\), which does not match"):
        ops.concatenate([x, tex.placeholder((2, 5, 4), name="y")], axis=0)
    with pytest.raises(ValueError, match=r"split: sizes \(1, 1\) must be non-negative and add up to 3"):
        ops.split(x, [1, 1], axis=1)
    with pytest.raises(ValueError, match="squeeze: axis 1 of tensor 'x' has size 3, not 1"):
        ops.squeeze(x, 1)
    with pytest.raises(TypeError, match="take: indices must be an integer tensor, got float32 tensor 'i'"):
        ops.take(x, tex.placeholder((2,), name="i"))
    with pytest.raises(ValueError, match="strided_slice: stride on axis 0 must not be 0"):
        ops.strided_slice(x, [0], [1], [0])
    with pytest.raises(ValueError, match=r"broadcast_to: .* do not broadcast"):
        ops.broadcast_to(x, (2, 5, 4))


def test_reduce_errors() -> None:
    x = tex.placeholder((2, 3), name="x")
    with pytest.raises(ValueError, match="reduce_sum: axes must be distinct"):
        ops.reduce_sum(x, (1, -1))
    with pytest.raises(ValueError, match="reduce_max: axis 2 is out of range"):
        ops.reduce_max(x, 2)


def test_dtype_errors() -> None:
    x = tex.placeholder((2, 3), name="x")
    with pytest.raises(ValueError, match="cast: dtype: unknown dtype 'float8'"):
        ops.cast(x, "float8")
    with pytest.raises(ValueError, match="dense: out_dtype: unknown dtype 'int128'"):
        ops.dense(x, tex.placeholder((4, 3)), out_dtype="int128")
    with pytest.raises(TypeError, match="leaky_relu: x must be a float tensor, got int32 tensor 'n'"):
        ops.leaky_relu(tex.placeholder((2,), dtype="int32", name="n"))


def test_schedule_default_rejects_other_targets() -> None:
    x = tex.placeholder((8,), name="x")
    with pytest.raises(NotImplementedError, match="schedule_default: no default schedule for target 'cuda'"):
        ops.schedule_default(ops.exp(x), target="cuda")


def test_wrong_arguments_to_a_built_op() -> None:
    x = tex.placeholder((4, 5), name="x")
    y = ops.relu(x)
    f = tex.build(ops.schedule_default(y), [x, y])
    import numpy as np

    with pytest.raises(ValueError, match="x"):
        f(np.zeros((5, 4), np.float32), np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError, match="x"):
        f(np.zeros((4, 5), np.float64), np.zeros((4, 5), np.float32))
    with pytest.raises(TypeError):
        f(np.zeros((4, 5), np.float32))
