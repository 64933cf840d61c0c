"""tex.nd: arrays in OpenCL device memory, read and written in place by OpenCL modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
RNG = np.random.default_rng(0)
DTYPES = ["float32", "float64", "float16", "int8", "int16", "int32", "int64", "uint8", "bool"]


def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


def unary(n: int | tex.Var, fn: Any, name: str, target: str = "opencl") -> Any:
    """out[i] = fn(A[i]): one work-item per element for a static n, one loop for a symbolic one."""
    A = tex.placeholder((n,), name="A")
    B = tex.compute((n,), lambda i: fn(A[i]), name="B")
    s = tex.create_schedule(B)
    if target.startswith("opencl") and isinstance(n, int):
        bo, bi = s[B].split(B.op.axis[0], 16)
        s[B].bind(bo, tex.thread_axis("blockIdx.x"))
        s[B].bind(bi, tex.thread_axis("threadIdx.x"))
    return tex.build(s, [A, B], target=target, name=name)


def binary(n: int, name: str) -> Any:
    """C[i] = A[i] * B[i] + 1."""
    A = tex.placeholder((n,), name="A")
    B = tex.placeholder((n,), name="B")
    C = tex.compute((n,), lambda i: A[i] * B[i] + 1.0, name="C")
    return tex.build(tex.create_schedule(C), [A, B, C], target="opencl", name=name)


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts pyopencl.enqueue_copy calls (host <-> device), by direction."""
    import pyopencl as cl

    seen: list[str] = []
    real = cl.enqueue_copy

    def counting(queue: Any, dest: Any, src: Any, **kw: Any) -> Any:
        seen.append("to_host" if isinstance(dest, np.ndarray) else "to_device")
        return real(queue, dest, src, **kw)

    monkeypatch.setattr(cl, "enqueue_copy", counting)
    return seen


def test_round_trip_and_attributes() -> None:
    a = rand(3, 4)
    x = tex.nd.array(a)
    assert x.shape == (3, 4) and x.dtype == np.float32 and x.ndim == 2 and x.size == 12 and x.nbytes == 48
    assert x.device.startswith("opencl -device=")
    assert repr(x).startswith("<tex.nd.NDArray shape=(3, 4) dtype=float32 on '") and x.device in repr(x)
    np.testing.assert_array_equal(x.numpy(), a)
    y = tex.nd.array(a.T)  # not contiguous: copied into C order
    np.testing.assert_array_equal(y.numpy(), a.T)
    z = tex.nd.empty((2, 0), "int32", device=x.device)
    assert z.numpy().shape == (2, 0)
    x.copyfrom(a * 2)
    np.testing.assert_array_equal(x.numpy(), a * 2)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=3), dtype=st.sampled_from(DTYPES))
def test_round_trip_any_shape_and_dtype(shape: list[int], dtype: str) -> None:
    a = (RNG.random(shape) * 100 - 50).astype(dtype)
    x = tex.nd.array(a)
    assert x.shape == a.shape and x.dtype == a.dtype
    back = x.numpy()
    assert back.dtype == a.dtype
    np.testing.assert_array_equal(back, a)


def test_same_device_same_context() -> None:
    x = tex.nd.array(rand(4), device="opencl")
    assert tex.nd.array(rand(4), device=x.device).ctx is x.ctx  # "opencl" and "opencl -device=N" agree
    f = unary(4, lambda v: v, "ident")
    assert tex.nd.empty(4, device=f).ctx is f.ctx is x.ctx


def test_chain_two_kernels_without_copies(copies: list[str]) -> None:
    n = 100
    f = unary(n, lambda v: v * 2.0, "twice")
    g = binary(n, "mul_add")
    a, b = rand(n), rand(n)
    x, y = tex.nd.array(a), tex.nd.array(b)
    mid, out = tex.nd.empty(n, device=x), tex.nd.empty(n, device=x)
    buffer = mid.data
    copies.clear()
    f(x, mid)
    g(mid, y, out)
    assert copies == []  # the intermediate never left the device
    assert mid.data is buffer and not f._device_buffers and not g._device_buffers
    np.testing.assert_allclose(out.numpy(), a * 2 * b + 1, rtol=1e-6)
    assert copies == ["to_host"]


def test_mix_numpy_and_ndarray(copies: list[str]) -> None:
    n = 50
    g = binary(n, "mul_add_mix")
    a, b = rand(n), rand(n)
    y = tex.nd.array(b)
    c = np.zeros(n, "float32")
    copies.clear()
    g(a, y, c)  # numpy in, NDArray in, numpy out: copies only for the numpy arrays
    assert sorted(copies) == ["to_device", "to_device", "to_host"]
    np.testing.assert_allclose(c, a * b + 1, rtol=1e-6)
    out = tex.nd.empty(n, device=y)
    g(y, a, out)  # NDArray out: written in place
    np.testing.assert_allclose(out.numpy(), a * b + 1, rtol=1e-6)


def test_symbolic_shape_binds_from_ndarray() -> None:
    n = tex.var("n")
    f = unary(n, lambda v: v + 3.0, "plus3")
    a = rand(37)
    out = tex.nd.empty(37, device=f)
    f(tex.nd.array(a), out, 37)  # the build appends the shape variable n as a parameter
    np.testing.assert_allclose(out.numpy(), a + 3, rtol=1e-6)
    with pytest.raises(ValueError, match=r"argument 'B' \(#2\) must have shape \(n,\) with n = 37"):
        f(tex.nd.array(a), tex.nd.empty(36, device=f), 37)


def test_wrong_shape_dtype_and_aliasing() -> None:
    g = binary(8, "mul_add_err")
    x = tex.nd.array(rand(8))
    with pytest.raises(ValueError, match=r"mul_add_err: argument 'B' \(#2\) must have shape \(8,\), got \(9,\)"):
        g(x, tex.nd.array(rand(9)), tex.nd.empty(8))
    with pytest.raises(TypeError, match=r"argument 'C' \(#3\) must have dtype float32, got int32"):
        g(x, x, tex.nd.empty(8, "int32"))
    with pytest.raises(ValueError, match=r"argument 'C' \(#3\) overlaps the memory of argument 'A'"):
        g(x, tex.nd.array(rand(8)), x)
    with pytest.raises(TypeError, match=r"expected 3 arguments"):
        g(x, x)


def test_ndarray_of_another_context_is_refused() -> None:
    from tex.targets.opencl.runtime import DeviceContext, to_device

    g = binary(8, "mul_add_ctx")
    other = DeviceContext(g.ctx.index, g.ctx.device)  # same device, another context: its buffers do not mix
    x = to_device(rand(8), other)
    with pytest.raises(ValueError, match=r"argument 'B' \(#2\) is an NDArray on opencl -device=\d+ .* but the "
                                         r"module runs on opencl -device=\d+"):
        g(rand(8), x, np.zeros(8, "float32"))


def test_time_evaluator_takes_ndarrays(copies: list[str]) -> None:
    g = binary(64, "mul_add_time")
    x, y, out = tex.nd.array(rand(64)), tex.nd.array(rand(64)), tex.nd.empty(64)
    copies.clear()
    t = g.time_evaluator(number=2, repeat=2)(x, y, out)
    assert copies == [] and len(t.results) == 2 and all(r > 0 for r in t.results)


def test_llvm_module_refuses_ndarray() -> None:
    f = unary(8, lambda v: v, "ident_cpu", target="llvm")
    with pytest.raises(TypeError, match=r"argument 'A' \(#1\) must be a numpy array .* got NDArray"):
        f(tex.nd.array(rand(8)), np.zeros(8, "float32"))
    out = np.zeros(8, "float32")
    x = tex.nd.array(rand(8))
    f(x.numpy(), out)  # the explicit way: copy back first
    np.testing.assert_array_equal(out, x.numpy())


def test_bad_arguments_of_nd() -> None:
    with pytest.raises(ValueError, match=r"tex.nd.array: device must be an OpenCL target .* got 'llvm'"):
        tex.nd.array(rand(2), device="llvm")
    with pytest.raises(ValueError, match=r"unknown target kind 'cuda'"):
        tex.nd.array(rand(2), device="cuda")
    with pytest.raises(TypeError, match=r"tex.nd.array: dtype must be one of .* got complex64"):
        tex.nd.array(np.zeros(2, np.complex64))
    with pytest.raises(ValueError, match=r"tex.nd.empty: shape must be non-negative ints, got \(2, -1\)"):
        tex.nd.empty((2, -1))
    with pytest.raises(ValueError, match=r"NDArray.copyfrom: source must have shape \(2,\) and dtype float32"):
        tex.nd.empty(2).copyfrom(np.zeros(3, "float32"))


def test_import_tex_loads_nd_on_first_use() -> None:
    import subprocess
    import sys

    code = ("import sys, tex\nprint('tex.targets.opencl.runtime' in sys.modules, 'tex.nd' in sys.modules)\n"
            "from tex import nd\nprint(nd.array is tex.nd.array, 'pyopencl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "True", "False"]
