"""OpenCL export (`.cl` + `.json`), checked by a plain pyopencl host that reads only those two files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tex
from tex.ops.opencl.matmul import matmul_opencl
from tex.targets.devices import opencl_devices

pytestmark = pytest.mark.skipif(not opencl_devices(), reason="no OpenCL device (install pocl-opencl-icd)")
RNG = np.random.default_rng(7)
CL_SCALARS = {"float": np.float32, "double": np.float64, "half": np.float16, "char": np.int8, "short": np.int16,
              "int": np.int32, "long": np.int64, "uchar": np.uint8}


# ------------------------------------------------------------ the generic host: no tex on this path
def plain_device(name: str | None) -> Any:
    """The device the export names, else the first one pyopencl lists."""
    import pyopencl as cl

    devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    return next((d for d in devices if d.name.strip() == name), devices[0])


def run_exported(json_path: Path, arrays: dict[str, Any]) -> None:
    """Run every kernel of an export in order on `arrays` (buffer/scalar name -> value); outputs in place."""
    import pyopencl as cl

    meta = json.loads(json_path.read_text())
    assert meta["format"] == "tex-opencl" and meta["version"] == 1
    ctx = cl.Context([plain_device(meta["device"])])
    queue = cl.CommandQueue(ctx)
    for k in meta["kernels"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PoCL's compiler notes
            program = cl.Program(ctx, (json_path.parent / k["source"]).read_text()).build()
        kernel = cl.Kernel(program, k["name"])
        call, outputs = [], []
        for a in k["args"]:
            if a["kind"] == "buffer":
                host = arrays[a["name"]]
                assert host.dtype == np.dtype(a["dtype"]) and host.flags.c_contiguous
                assert all(isinstance(d, str) or d == n for d, n in zip(a["shape"], host.shape, strict=True))
                buf = cl.Buffer(ctx, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR, hostbuf=host)
                call.append(buf)
                if a["role"] == "output":
                    outputs.append((host, buf))
            else:
                src = a["shape_of"]
                value = arrays[src["arg"]].shape[src["dim"]] if src else arrays[a["name"]]
                call.append(CL_SCALARS[a["cl_type"]](value))
        kernel(queue, tuple(k["global_size"]), tuple(k["local_size"]), *call)
        for host, buf in outputs:
            cl.enqueue_copy(queue, host, buf)
    queue.finish()


# ------------------------------------------------------------ kernels
def rand(*shape: int) -> np.ndarray:
    return RNG.random(shape, dtype=np.float32)


def bind(s: tex.Schedule, t: tex.Tensor, axis: object, tag: str) -> None:
    s[t].bind(axis, tex.thread_axis(tag))


def elementwise(n: int, factor: int, name: str = "ew") -> Any:
    A = tex.placeholder((n,), name="A")
    B = tex.placeholder((n,), name="B")
    C = tex.compute((n,), lambda i: tex.exp(A[i]) * B[i] - tex.abs(A[i] - 0.5), name="C")
    s = tex.create_schedule(C)
    bo, bi = s[C].split(C.op.axis[0], factor)
    bind(s, C, bo, "blockIdx.x")
    bind(s, C, bi, "threadIdx.x")
    return tex.build(s, [A, B, C], target="opencl", name=name)


def matmul_shared(M: int, N: int, K: int, tile: int) -> Any:
    """A block tile of A and B in __local memory (filled by the work-group), one output per work-item."""
    A = tex.placeholder((M, K), name="A")
    B = tex.placeholder((K, N), name="B")
    k = tex.reduce_axis((0, K), name="k")
    C = tex.compute((M, N), lambda i, j: tex.sum(A[i, k] * B[k, j], axis=k), name="C")
    s = tex.create_schedule(C)
    AS, BS = s.cache_read(A, "shared", [C]), s.cache_read(B, "shared", [C])
    CL = s.cache_write(C, "local")
    bi, bj, ti, tj = s[C].tile(*s[C].op.axis, tile, tile)
    for ax, tag in ((bi, "blockIdx.y"), (bj, "blockIdx.x"), (ti, "threadIdx.y"), (tj, "threadIdx.x")):
        bind(s, C, ax, tag)
    s[CL].compute_at(s[C], tj)
    for X in (AS, BS):
        s[X].compute_at(s[C], bj)
        _, inner = s[X].split(s[X].fuse(*s[X].op.axis), tile * tile)
        fy, fx = s[X].split(inner, tile)
        bind(s, X, fy, "threadIdx.y")
        bind(s, X, fx, "threadIdx.x")
    return tex.build(s, [A, B, C], target="opencl", name="mm_shared")


def check_files(f: Any, json_path: Path) -> dict[str, Any]:
    """The .cl is the very source the runtime built; the .json carries the module's launch_info."""
    meta = json.loads(json_path.read_text())
    assert meta["tex_version"] and meta["target"] == str(f.target)
    (k,) = meta["kernels"]
    assert (json_path.parent / k["source"]).read_text() == f.get_source("cl")
    assert {**k, "source": None} == {**f.launch_info()["kernels"][0], "source": None}
    assert tuple(k["global_size"]) == f.launch.global_size and tuple(k["local_size"]) == f.launch.local_size
    return meta


# ------------------------------------------------------------ round trips
def test_unbound_kernel(tmp_path: Path) -> None:
    A = tex.placeholder((5, 7), name="A")
    C = tex.compute((5, 7), lambda i, j: A[i, j] * 2 + i - j // 2, name="C")
    f = tex.build(tex.create_schedule(C), [A, C], target="opencl", name="scale")
    path = f.export_library(tmp_path / "scale")
    assert path == tmp_path / "scale.json" and (tmp_path / "scale.cl").exists()
    meta = check_files(f, path)
    (k,) = meta["kernels"]
    assert k["name"] == "scale" and k["global_size"] == [1, 1, 1] and k["local_size"] == [1, 1, 1]
    assert [(a["name"], a["role"], a["shape"]) for a in k["args"]] == [("A", "input", [5, 7]), ("C", "output", [5, 7])]
    a, c = rand(5, 7), np.zeros((5, 7), "float32")
    run_exported(path, {"A": a, "C": c})
    i, j = np.indices((5, 7))
    np.testing.assert_allclose(c, a * 2 + i - j // 2, rtol=1e-6)


@settings(max_examples=4, deadline=None)
@given(n=st.integers(1, 200), factor=st.sampled_from([1, 7, 32]))
def test_bound_elementwise(tmp_path_factory: pytest.TempPathFactory, n: int, factor: int) -> None:
    f = elementwise(n, factor)
    path = tex.export_library(f, tmp_path_factory.mktemp("ew") / "ew.cl")
    meta = check_files(f, path)
    (k,) = meta["kernels"]
    assert k["local_size"][0] <= factor and k["global_size"][0] >= n and k["global_size"][1:] == [1, 1]
    a, b, c = rand(n), rand(n), np.zeros(n, "float32")
    run_exported(path, {"A": a, "B": b, "C": c})
    np.testing.assert_allclose(c, np.exp(a) * b - np.abs(a - 0.5), rtol=1e-5, atol=1e-6)


def test_tuned_matmul_default_config(tmp_path: Path) -> None:
    M, N, K = 37, 45, 29
    s, args = matmul_opencl(M, N, K, "float32")
    f = tex.build(s, args, target="opencl", name="matmul")
    path = f.export_library(tmp_path / "matmul.json")
    (k,) = check_files(f, path)["kernels"]
    assert k["global_size"][2] == k["local_size"][2] == 1 and k["global_size"][0] % k["local_size"][0] == 0
    a, b, c = rand(M, K), rand(K, N), np.zeros((M, N), "float32")
    run_exported(path, {"A": a, "B": b, "C": c})
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)


def test_shared_memory_matmul(tmp_path: Path) -> None:
    M, N, K = 50, 37, 29
    f = matmul_shared(M, N, K, 8)
    path = f.export_library(tmp_path / "mm_shared.so")  # the LLVM suffix also names an OpenCL export
    (k,) = check_files(f, path)["kernels"]
    assert k["local_mem_bytes"] > 0 and k["local_size"] == [8, 8, 1] and k["global_size"] == [40, 56, 1]
    assert "__local" in (tmp_path / "mm_shared.cl").read_text()
    a, b, c = rand(M, K), rand(K, N), np.zeros((M, N), "float32")
    run_exported(path, {"A": a, "B": b, "C": c})
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-5)


def test_symbolic_shape_and_scalar(tmp_path: Path) -> None:
    n = tex.var("n")
    alpha = tex.var("alpha", "float64")
    A = tex.placeholder((n, 3), name="A", dtype="float64")
    B = tex.compute((n, 3), lambda i, j: A[i, j] * alpha + j, name="B")
    f = tex.build(tex.create_schedule(B), [A, alpha, B], target="opencl", name="axpj")
    path = f.export_library(tmp_path / "axpj")
    (k,) = check_files(f, path)["kernels"]
    assert k["extensions"] == ["cl_khr_fp64"]
    shape_vars = {a["name"]: a["shape_of"] for a in k["args"] if a["kind"] == "scalar"}
    assert shape_vars == {"alpha": None, "n": {"arg": "A", "dim": 0}}
    for rows in (1, 6):
        a, b = RNG.random((rows, 3)), np.zeros((rows, 3))
        run_exported(path, {"A": a, "alpha": -1.5, "B": b})
        np.testing.assert_allclose(b, a * -1.5 + np.arange(3), rtol=1e-12)


def test_several_kernels_in_launch_order(tmp_path: Path) -> None:
    """B = 2 * A (bound), then C = B + A (unbound): one JSON, one .cl per kernel, B chains them."""
    n = 50
    A = tex.placeholder((n,), name="A")
    B = tex.compute((n,), lambda i: A[i] * 2, name="B")
    s = tex.create_schedule(B)
    bo, bi = s[B].split(B.op.axis[0], 16)
    bind(s, B, bo, "blockIdx.x")
    bind(s, B, bi, "threadIdx.x")
    first = tex.build(s, [A, B], target="opencl", name="twice")
    Bi = tex.placeholder((n,), name="B")
    C = tex.compute((n,), lambda i: Bi[i] + A[i], name="C")
    second = tex.build(tex.create_schedule(C), [Bi, A, C], target="opencl", name="plus")
    path = tex.export_library([first, second], tmp_path / "pipe")
    meta = json.loads(path.read_text())
    assert [(k["name"], k["source"]) for k in meta["kernels"]] == [("twice", "pipe.twice.cl"), ("plus", "pipe.plus.cl")]
    assert (tmp_path / "pipe.plus.cl").read_text() == second.get_source("cl")
    a, b, c = rand(n), np.zeros(n, "float32"), np.zeros(n, "float32")
    run_exported(path, {"A": a, "B": b, "C": c})
    np.testing.assert_allclose(b, 2 * a, rtol=1e-6)
    np.testing.assert_allclose(c, 3 * a, rtol=1e-6)


def test_launch_info_is_what_the_runtime_launches() -> None:
    f = elementwise(100, 32)
    (k,) = f.launch_info()["kernels"]
    assert (k["global_size"], k["local_size"]) == ([128, 1, 1], [32, 1, 1])
    assert k["name"] == f.symbol and f"void {k['name']}(" in f.get_source("cl")
    assert [a["name"] for a in k["args"]] == ["A", "B", "C"] and k["extensions"] == []


@pytest.mark.parametrize("name", ["exp", "fma", "max", "dot", "main", "int", "3d"])
def test_kernel_named_like_a_builtin(name: str, tmp_path: Path) -> None:
    """A kernel named like an OpenCL built-in, keyword or main would shadow it (the program builds, the kernel
    cannot be found): it is built as tex_<name>, runs, and the export names what was built."""
    A = tex.placeholder((8,), name="A")
    C = tex.compute((8,), lambda i: A[i] + 1, name="C")
    f = tex.build(tex.create_schedule(C), [A, C], target="opencl", name=name)
    a, c = rand(8), np.zeros(8, "float32")
    f(a, c)
    np.testing.assert_allclose(c, a + 1)
    (k,) = f.launch_info()["kernels"]
    assert k["name"] == f"tex_{name}"
    path = f.export_library(tmp_path / "k")
    check_files(f, path)
    c[:] = 0
    run_exported(path, {"A": a, "C": c})
    np.testing.assert_allclose(c, a + 1)


def test_buffers_named_like_builtins() -> None:
    """Placeholders named exp / max / int print under other names, so the built-ins stay callable."""
    A = tex.placeholder((8,), name="exp")
    B = tex.placeholder((8,), name="max")
    C = tex.compute((8,), lambda i: tex.exp(A[i]) + tex.max(B[i], 0.5), name="int")
    f = tex.build(tex.create_schedule(C), [A, B, C], target="opencl", name="k")
    a, b, c = rand(8), rand(8), np.zeros(8, "float32")
    f(a, b, c)
    np.testing.assert_allclose(c, np.exp(a) + np.maximum(b, 0.5), rtol=1e-5)


# ------------------------------------------------------------ errors
@pytest.fixture(scope="module")
def ew() -> Any:
    return elementwise(64, 16)


def test_bad_suffix(ew: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"export_library\(ew\): an OpenCL export writes <name>\.cl \+ <name>\.json"):
        ew.export_library(tmp_path / "k.txt")


def test_missing_directory(ew: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"export_library\(ew\): directory .*nowhere' does not exist"):
        ew.export_library(tmp_path / "nowhere" / "k")


def test_path_is_a_directory(ew: Any, tmp_path: Path) -> None:
    (tmp_path / "k.json").mkdir()
    with pytest.raises(IsADirectoryError, match=r"k\.json' is a directory"):
        ew.export_library(tmp_path / "k")
    with pytest.raises(ValueError, match="path must name a file"):
        ew.export_library(str(tmp_path) + "/")


def test_path_type(ew: Any) -> None:
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike, got int"):
        ew.export_library(3)


def test_duplicate_kernel_names(ew: Any, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="two kernels are named 'ew'"):
        tex.export_library([ew, ew], tmp_path / "k")


def test_buffer_name_means_one_array(ew: Any, tmp_path: Path) -> None:
    other = elementwise(32, 16, name="ew32")
    with pytest.raises(ValueError, match=r"buffer 'A' is float32 \[64\] in kernel 'ew' but float32 \[32\] in "
                                         r"kernel 'ew32'"):
        tex.export_library([ew, other], tmp_path / "k")
    assert not list(tmp_path.iterdir())  # nothing written


def test_mixed_targets(ew: Any, tmp_path: Path) -> None:
    A = tex.placeholder((4,), name="A")
    B = tex.compute((4,), lambda i: A[i] + 1, name="B")
    cpu = tex.build(tex.create_schedule(B), [A, B], target="llvm", name="cpu")
    with pytest.raises(ValueError, match="OpenCL and LLVM kernels cannot share one export"):
        tex.export_library([ew, cpu], tmp_path / "k")
