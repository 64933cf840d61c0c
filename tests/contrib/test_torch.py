"""tex kernels as PyTorch custom operators: results against torch's own, zero-copy DLPack, tex's errors."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import tex
from tex.targets import Module

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; install: pip install torch --index-url https://download.pytorch.org/whl/cpu"
)
from tex.contrib.torch import _as_input, to_torch_op  # noqa: E402 (needs torch)

_ids = itertools.count()


def unique(name: str) -> str:
    """Operator names are global to the process: one per test (and per hypothesis example)."""
    return f"{name}_{next(_ids)}"


def gemm(m: int = 64, k: int = 48, n: int = 32, dtype: str = "float32") -> Module:
    A = tex.placeholder((m, k), name="A", dtype=dtype)
    B = tex.placeholder((k, n), name="B", dtype=dtype)
    r = tex.reduce_axis((0, k), name="k")
    C = tex.compute((m, n), lambda i, j: tex.sum(A[i, r] * B[r, j], axis=r), name="C")
    s = tex.create_schedule(C)
    CC = s.cache_write(C, "local")
    i, j = s[C].op.axis
    io, jo, ii, ji = s[C].tile(i, j, 8, 16)
    s[CC].compute_at(s[C], jo)
    ci, cj = s[CC].op.axis
    s[CC].reorder(s[CC].op.reduce_axis[0], ci, cj)
    s[CC].vectorize(cj)
    s[C].parallel(io)
    return tex.build(s, [A, B, C], name=unique("gemm"))


def axpy_diff() -> Module:
    """Z = alpha * X + Y and W = X - Y over a symbolic length n: a scalar input, two outputs."""
    n = tex.var("n")
    X = tex.placeholder((n,), name="X")
    Y = tex.placeholder((n,), name="Y")
    alpha = tex.var("alpha", "float32")
    Z = tex.compute((n,), lambda i: X[i] * alpha + Y[i], name="Z")
    W = tex.compute((n,), lambda i: X[i] - Y[i], name="W")
    s = tex.create_schedule([Z, W])
    return tex.build(s, [X, Y, alpha, Z, W], name=unique("axpy"))


def test_gemm_as_torch_op() -> None:
    op = to_torch_op(gemm())
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 48, generator=g), torch.randn(48, 32, generator=g)
    c = op(a, b)
    assert c.shape == (64, 32) and c.dtype == torch.float32 and c.device.type == "cpu" and c.is_contiguous()
    torch.testing.assert_close(c, a @ b, rtol=1e-5, atol=1e-4)


def test_gemm_float64_and_noncontiguous_input() -> None:
    op = to_torch_op(gemm(16, 24, 8, "float64"))
    g = torch.Generator().manual_seed(1)
    a = torch.randn(24, 16, generator=g, dtype=torch.float64).t()  # a transposed view: copied to contiguous
    b = torch.randn(24, 8, generator=g, dtype=torch.float64)
    torch.testing.assert_close(op(a, b), a @ b)


def test_elementwise_op_scalar_symbolic_shape_two_outputs() -> None:
    f = axpy_diff()
    op = to_torch_op(f)
    for n in (1, 7, 1000):
        x, y = torch.randn(n), torch.randn(n)
        z, w = op(x, y, 2.5)
        torch.testing.assert_close(z, 2.5 * x + y)
        torch.testing.assert_close(w, x - y)
    # n is bound from X's shape: not an argument of the operator
    (schema,) = getattr(torch.ops.tex, f.name)._schemas.values()
    assert str(schema) == f"tex::{f.name}(Tensor X, Tensor Y, float alpha) -> (Tensor, Tensor)"


def test_registered_under_torch_ops_and_custom_namespace() -> None:
    f = gemm(8, 8, 8)
    op = to_torch_op(f, name=f"texcontribtest::{f.name}")
    assert op is getattr(torch.ops.texcontribtest, f.name)
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    torch.testing.assert_close(getattr(torch.ops.texcontribtest, f.name)(a, b), a @ b, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(getattr(torch.ops.texcontribtest, f.name).default(a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_output_shapes_trace_on_meta_tensors() -> None:
    op = to_torch_op(axpy_diff())
    z, w = op(torch.empty(11, device="meta"), torch.empty(11, device="meta"), 1.0)
    assert z.shape == w.shape == (11,) and z.device.type == "meta"


def test_zero_copy_through_dlpack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel reads the input tensors' memory and writes the returned tensor's memory: no copies."""
    seen: list[tuple[Any, ...]] = []
    call = Module.__call__

    def spy(self: Module, *args: Any) -> None:
        seen.append(args)
        call(self, *args)

    monkeypatch.setattr(Module, "__call__", spy)
    op = to_torch_op(gemm(16, 16, 16))
    a, b = torch.randn(16, 16), torch.randn(16, 16)
    c = op(a, b)
    (args,) = seen
    assert [t.data_ptr() for t in args] == [a.data_ptr(), b.data_ptr(), c.data_ptr()]
    assert [np.from_dlpack(t).ctypes.data for t in args] == [a.data_ptr(), b.data_ptr(), c.data_ptr()]


def test_module_writes_into_torch_memory() -> None:
    """A built module called directly on torch tensors fills the output tensor in place."""
    f = gemm(16, 16, 16)
    a, b, c = torch.randn(16, 16), torch.randn(16, 16), torch.zeros(16, 16)
    ptr = c.data_ptr()
    f(a, b, c)
    assert c.data_ptr() == ptr
    torch.testing.assert_close(c, a @ b, rtol=1e-5, atol=1e-5)


def test_loaded_library_as_torch_op(tmp_path: Any) -> None:
    from tex.targets.export import find_compiler

    if find_compiler() is None:
        pytest.skip("no C compiler (cc/gcc/clang) to link libraries")
    f = gemm(32, 16, 8)
    f.export_library(str(tmp_path / "k.so"))
    loaded = tex.load_module(str(tmp_path / "k.so"))
    assert isinstance(loaded, Module)
    op = to_torch_op(loaded, name=unique("loaded_gemm"))
    a, b = torch.randn(32, 16), torch.randn(16, 8)
    torch.testing.assert_close(op(a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_wrong_shape_and_dtype_give_tex_messages() -> None:
    f = gemm()
    op = to_torch_op(f)
    a, b = torch.randn(64, 48), torch.randn(48, 32)
    where = rf"^{f.name}: argument"
    with pytest.raises(ValueError, match=rf"{where} 'B' \(#2\) must have shape \(48, 32\), got \(32, 48\)$"):
        op(a, b.t())
    with pytest.raises(TypeError, match=rf"{where} 'A' \(#1\) must have dtype float32, got float64$"):
        op(a.double(), b)
    with pytest.raises(ValueError, match=rf"{where} 'A' \(#1\) must have shape \(64, 48\) \(2 dimensions\)"):
        op(a[0], b)


def test_symbolic_shape_mismatch_gives_tex_message() -> None:
    f = axpy_diff()
    op = to_torch_op(f)
    with pytest.raises(ValueError, match=rf"^{f.name}: argument 'Y' \(#2\) must have shape \(n,\) with n = 5"):
        op(torch.randn(5), torch.randn(4), 1.0)


def test_non_cpu_tensor_refused() -> None:
    f = gemm(8, 8, 8)
    to_torch_op(f)
    from tex.contrib.torch import _params

    a_param = _params(f)[0]
    with pytest.raises(ValueError, match=rf"^{f.name}: argument 'A' \(#1\) is on meta; tex kernels run on the CPU"):
        _as_input(torch.empty(8, 8, device="meta"), a_param, f.name)
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="is on cuda"):
            getattr(torch.ops.tex, f.name)(torch.randn(8, 8).cuda(), torch.randn(8, 8))


def test_registration_errors() -> None:
    f = gemm(8, 8, 8)
    to_torch_op(f)
    with pytest.raises(ValueError, match=rf"the torch operator tex::{f.name} already exists; pass another name="):
        to_torch_op(f)
    with pytest.raises(ValueError, match="name must be 'op' or 'namespace::op'"):
        to_torch_op(f, name="bad name")
    with pytest.raises(TypeError, match=r"expected a kernel from tex\.build or tex\.load_module, got function"):
        to_torch_op(lambda a: a)  # type: ignore[arg-type]
