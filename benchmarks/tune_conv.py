"""Tune the 3x3 conv2d layers of ResNet-50 (batch 1, padding 1) and time them against onnxruntime's Conv.

    python benchmarks/tune_conv.py [--trials 48] [--layers 0,1,2,3]

Each layer is tuned with XGBTuner (the x86 `conv2d_nchw` template with prepacked weights, as the ONNX executor
runs it: NCHWc blocking, register tile along the output row; the weight is packed once, outside the timed call,
as onnxruntime prepacks its initializer), then the best config (apply_history_best on the log) is built and
timed interleaved with the template's default config and onnxruntime running a one-node Conv model with the
same weights (as an initializer, so it may prepack), all checked against onnxruntime first. --log with an
earlier run's log and --trials no more than it holds only re-times.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness

import tex
import tex.ops.x86.templates as templates
from tex import tune
from tex.ops.x86.conv2d import pack_conv_weight

LAYERS = [(64, 56), (128, 28), (256, 14), (512, 7)]  # (channels in = out, height = width)


def ort_conv(w: np.ndarray, shape: tuple[int, ...]):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], kernel_shape=[3, 3])
    g = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [shape[0], w.shape[0], *shape[2:]])],
                          initializer=[numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--layers", default="0,1,2,3")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--log", default=None)
    opts = p.parse_args()
    log = opts.log or str(Path(tempfile.mkdtemp()) / "tune_conv.jsonl")
    rows = []
    for li in (int(x) for x in opts.layers.split(",")):
        c, hw = LAYERS[li]
        args = ((1, c, hw, hw), (c, c, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), False, None, "float32", True)
        task = tune.create_task("conv2d_nchw", args)
        print(f"{task.name} {c}ch {hw}x{hw}: {len(task.config_space)} configs", file=sys.stderr)
        mo = tune.measure_option(tune.LocalBuilder(), tune.LocalRunner(number=5, repeat=3))
        t0 = time.monotonic()
        try:
            done = sum(1 for r in tune.load_records(log) if r.task == task.name and r.args == task.args) \
                if Path(log).exists() else 0
            if opts.trials > done:  # a log from an earlier run counts: tune only the missing trials
                tune.XGBTuner(task, seed=0).tune(opts.trials - done, mo, resume=log, callbacks=[
                    tune.callback.log_to_file(log), tune.callback.progress_bar(opts.trials - done)])
        finally:
            mo.close()
        secs = time.monotonic() - t0
        rng = np.random.default_rng(0)
        x = rng.standard_normal((1, c, hw, hw), dtype=np.float32)
        w = rng.standard_normal((c, c, 3, 3), dtype=np.float32) * 0.05
        sess = ort_conv(w, x.shape)
        want = sess.run(None, {"x": x})[0]
        contenders = {}
        for kind in ("tuned", "default"):  # the log's best, and the template's default config
            with tune.apply_history_best(log) if kind == "tuned" else contextlib.nullcontext():
                s, targs = templates.conv2d_nchw(*args)
            f = tex.build(s, targs, name=f"conv{c}_{kind}")
            *_, ib, ob = (int(d) for d in targs[1].shape)  # the config's blocks
            wp = pack_conv_weight(w, ib, ob)
            y = np.empty((1, c, hw, hw), np.float32)
            f(x, wp, y)
            np.testing.assert_allclose(y, want, rtol=1e-3, atol=1e-3)
            contenders[kind] = lambda f=f, x=x, wp=wp, y=y: f(x, wp, y)
        contenders["ort"] = lambda sess=sess, x=x: sess.run(None, {"x": x})
        t = harness.interleave(contenders, opts.rounds, 20)
        g = {k: task.flop / v.median / 1e9 for k, v in t.items()}
        rows.append([f"{c}ch {hw}x{hw}", f"{g['default']:.0f}", f"{g['tuned']:.0f}", f"{g['ort']:.0f}",
                     f"{g['default'] / g['ort']:.2f}x", f"{g['tuned'] / g['ort']:.2f}x",
                     f"{opts.trials} in {secs:.0f} s"])
    print(f"ResNet-50 3x3 conv layers, batch 1, tuned with XGBTuner; {harness.machine()}")
    print(harness.table(rows, ["layer", "default GFLOP/s", "tuned GFLOP/s", "onnxruntime GFLOP/s",
                               "default / onnxruntime", "tuned / onnxruntime", "trials"]))


if __name__ == "__main__":
    main()
