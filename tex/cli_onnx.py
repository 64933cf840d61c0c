"""`tex compile`, `tex run`, `tex bench` for ONNX models (the graph executor of tex.onnx_import)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _compile(args: argparse.Namespace) -> Any:
    import tex
    return tex.compile(args.model, target=args.target, tuning_log=getattr(args, "log", None),
                       fallback=getattr(args, "fallback", False))


def compile(args: argparse.Namespace) -> int:  # noqa: A001
    from tex.onnx_import import load
    if args.print_graph:
        print("# before optimisation\n" + str(load(args.model, fallback=args.fallback)))
    exe = _compile(args)
    if args.print_graph:  # what was compiled: after the graph passes and the layout transformation
        print("# after optimisation\n" + str(exe.graph))
    print(f"{args.model}: {exe.summary()}")
    if args.output:
        lib = exe.export_library(args.output)
        print(f"wrote {lib} and {Path(lib).with_suffix('.h')}: model_run(inputs..., outputs...); "
              f"run it with `tex run {lib}`")
    return 0


def _random_inputs(exe: Any, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for io in exe.plan.inputs:
        a = rng.standard_normal(io.shape) if io.dtype.startswith("float") else rng.integers(0, 2, io.shape)
        out[io.name] = a.astype(io.dtype)
    return out


def run(args: argparse.Namespace) -> int:
    is_lib = str(args.model).endswith(".so")  # an exported model library runs without compiling
    if is_lib:
        import tex
        model = tex.load_module(args.model)
        if getattr(model, "inputs", None) is None:
            print(f"tex run: {args.model} is a kernel library, not a tex model library", file=sys.stderr)
            return 2
    else:
        exe = _compile(args)
    feeds: dict[str, np.ndarray] = {}
    for item in args.input:
        name, sep, path = item.partition("=")
        if not sep:
            print(f"tex run: --input must be NAME=FILE.npy, got '{item}'", file=sys.stderr)
            return 2
        feeds[name] = np.load(path)
    if is_lib:
        missing = [io for io in model.inputs if io.name not in feeds]
        if missing:
            print(f"tex run: missing --input for {', '.join(io.name for io in missing)} "
                  f"(shapes {[io.shape for io in missing]})", file=sys.stderr)
            return 2
        got = model(*(feeds[io.name] for io in model.inputs))
        outs = {io.name: v for io, v in zip(model.outputs, got)}
    else:
        outs = exe.run(feeds)
    if args.output:
        np.savez(args.output, **outs)
    for k, v in outs.items():
        print(f"{k}: {v.dtype}{list(v.shape)}")
    return 0


def _median_ms(fn: Any, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1e3)


def bench(args: argparse.Namespace) -> int:
    exe = _compile(args)
    print(f"{args.model}: {exe.summary()}")
    feeds = _random_inputs(exe)
    tex_ms = _median_ms(lambda: exe.run(feeds), args.repeat)
    print(f"tex          {tex_ms:9.3f} ms (median of {args.repeat})")
    if exe.fallback_nodes:
        steps = exe.profile(feeds, args.repeat)
        fallen = {k.name: k for k in exe.plan.kernels if k.func is None}
        share = sum(t for name, t in steps if name in fallen) / max(sum(t for _, t in steps), 1e-12)
        print(f"fallback     {len(exe.fallback_nodes)} node(s) run by onnx.reference, {share:.0%} of the run time: "
              + ", ".join(f"{k.nodes[0]} ({k.module.node.op_type})" for k in fallen.values()))
    if args.compare == "onnxruntime":
        import onnxruntime as ort
        sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        time.sleep(0.2)
        ort_ms = _median_ms(lambda: sess.run(None, feeds), args.repeat)
        ref = sess.run(None, feeds)
        got = exe.run(feeds)
        err = max(float(np.abs(got[n] - r).max()) for n, r in zip(exe.output_names, ref))
        print(f"onnxruntime  {ort_ms:9.3f} ms; tex/onnxruntime = {tex_ms / ort_ms:.2f}x; max abs error {err:.3g}")
    return 0


def ops(args: argparse.Namespace) -> int:
    """`tex ops MODEL.onnx`: each op type, its count, and how tex runs it."""
    from tex.onnx_import import ops as onnx_ops
    from tex.onnx_import.importer import read_model
    proto = read_model(args.model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    counts: dict[tuple[str, str], int] = {}
    for n in proto.graph.node:
        counts[(n.domain, n.op_type)] = counts.get((n.domain, n.op_type), 0) + 1
    rows, missing = [], 0
    for (domain, op), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if onnx_ops.supported(op, domain, opset):
            how = "folded at compile time" if op in onnx_ops.COMPILE_TIME_OPS else "compiled"
        else:
            missing += 1
            how = "UNSUPPORTED (runs with --fallback through onnx.reference)"
        rows.append((f"{domain + '.' if domain else ''}{op}", count, how))
    width = max(len(r[0]) for r in rows)
    print(f"{args.model}: opset {opset}, {len(proto.graph.node)} nodes, {len(rows)} op types, {missing} unsupported")
    for op, count, how in rows:
        print(f"  {op:<{width}}  {count:5d}  {how}")
    return 1 if missing else 0
