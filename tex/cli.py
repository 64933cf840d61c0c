"""The `tex` command: `targets`, `tune`, `compile`, `run`, `bench`; `tex <command> --help` for each.

Everything heavy (llvmlite, pyopencl, xgboost, onnx) is imported inside the handlers, so that
`tex --help` answers at once. A `TexError` becomes one line on stderr and exit status 1; argparse's
usage errors and commands not written yet exit with 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence

from tex.errors import TexError

Handler = Callable[[argparse.Namespace], int]

TUNERS = ("xgb", "ga", "random", "grid")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `tex` command with `argv` (default: sys.argv[1:]) and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except TexError as e:
        print(f"tex {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tex {args.command}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    from tex import __version__

    parser = argparse.ArgumentParser(
        prog="tex",
        description="tex, a tensor-expression compiler: list devices, tune kernels and models, compile and run "
        "ONNX models.",
    )
    parser.add_argument("--version", action="version", version=f"tex {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)

    p = sub.add_parser("targets", help="list the host CPU and every OpenCL device, with their features",
                       description="List the devices tex can build for: the host CPU (target 'llvm') and every "
                       "OpenCL device (target 'opencl -device=N').")
    p.add_argument("-v", "--verbose", action="store_true", help="print long fields (CPU features) in full")
    p.set_defaults(handler=_targets)

    p = sub.add_parser("tune", help="tune the kernels of an ONNX model, or one template, into a log",
                       description="Search schedules for the kernels of an ONNX model, or for one tuning template "
                       "given as FILE.py:NAME, and append every measurement to a log. Ctrl-C leaves a usable log.")
    p.add_argument("workload", metavar="MODEL.onnx|FILE.py:TEMPLATE", nargs="?",
                   help="an ONNX model, or a Python file and the name of a @tune.template in it")
    p.add_argument("--args", metavar="A,B,...", help="the template's arguments, comma-separated "
                   "(e.g. 1024,1024,1024,float32); for FILE.py:TEMPLATE only")
    _target_flag(p)
    p.add_argument("--trials", type=_positive_int, default=1000, metavar="N",
                   help="measurements per template; for a model, in all, split among its kernels by their share "
                   "of its run time (default: %(default)s)")
    p.add_argument("--log", metavar="FILE.jsonl",
                   help="tuning log to append to (one JSON record per line); earlier records are kept and "
                   "configs already measured in it are skipped")
    p.add_argument("--tuner", choices=TUNERS, default="xgb",
                   help="search strategy: xgb (cost model), ga (genetic), random, grid (default: %(default)s)")
    p.add_argument("--parallel", type=_positive_int, metavar="N",
                   help="kernels built at once (default: the number of cores)")
    p.add_argument("--budget", type=_budget, metavar="TIME",
                   help="stop after this long (90s, 10m, 1h), shared among the kernels, whatever --trials says")
    p.add_argument("--seed", type=int, help="seed of the tuner, for reproducible runs")
    p.add_argument("--early-stopping", type=_positive_int, metavar="N",
                   help="stop a kernel after N trials without improvement")
    p.add_argument("--number", type=_positive_int, default=4, help="calls per timed repeat (default: %(default)s)")
    p.add_argument("--repeat", type=_positive_int, default=3, help="timed repeats per config (default: %(default)s)")
    p.add_argument("--min-repeat-ms", type=float, default=0.0, metavar="MS",
                   help="grow --number until a repeat lasts this long (default: %(default)s)")
    p.add_argument("--cache-flush", action=argparse.BooleanOptionalAction, default=None,
                   help="evict a kernel's weights from the CPU caches before each timed call, as a model runs it "
                   "(default: on when tuning an ONNX model, off for a template)")
    p.add_argument("--show", metavar="FILE.jsonl", help="print the best config of every task in a log and exit")
    p.set_defaults(handler=_tune)

    p = sub.add_parser("compile", help="compile an ONNX model into a shared library",
                       description="Import an ONNX model, optimise its graph, build its kernels (with the best "
                       "configs from a tuning log, if given) and write one shared library plus its C header.")
    p.add_argument("model", metavar="MODEL.onnx", help="the ONNX model")
    _target_flag(p)
    _log_flag(p)
    p.add_argument("-o", "--output", metavar="MODEL.so", help="the library to write (whole-model export, issue #6)")
    p.add_argument("--print-graph", action="store_true", help="print the graph before and after optimisation")
    _fallback_flag(p)
    p.set_defaults(handler=_onnx("compile"))

    p = sub.add_parser("run", help="run an ONNX model or a compiled library on inputs from .npy files",
                       description="Run an ONNX model (compiled on the fly) or a library from 'tex compile' on "
                       "inputs read from .npy files, and save its outputs to an .npz file.")
    p.add_argument("model", metavar="MODEL.onnx|MODEL.so", help="the model, or a library from 'tex compile'")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input of the model; repeat for each input")
    p.add_argument("--output", metavar="OUT.npz", help="where to save the outputs (default: print their shapes)")
    _target_flag(p)
    _log_flag(p)
    _fallback_flag(p)
    p.set_defaults(handler=_onnx("run"))

    p = sub.add_parser("bench", help="time an ONNX model, optionally next to onnxruntime",
                       description="Compile an ONNX model and time it on random inputs; with --compare, time "
                       "onnxruntime on the same inputs in the same run and print the ratio.")
    p.add_argument("model", metavar="MODEL.onnx", help="the ONNX model")
    _target_flag(p)
    _log_flag(p)
    p.add_argument("--compare", choices=("onnxruntime",), help="also time this runtime on the same inputs")
    p.add_argument("--repeat", type=_positive_int, default=10, help="timed runs (median reported; default 10)")
    _fallback_flag(p)
    p.set_defaults(handler=_onnx("bench"))

    p = sub.add_parser("ops", help="list the ops of an ONNX model and whether tex supports them",
                       description="Print each op type of an ONNX model with its count and how tex runs it: "
                       "compiled, folded at compile time, or (unsupported) only with --fallback through "
                       "onnx.reference. Exit status 1 when some op is unsupported.")
    p.add_argument("model", metavar="MODEL.onnx", help="the ONNX model")
    p.set_defaults(handler=_onnx("ops"))
    return parser


def _fallback_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fallback", action="store_true",
                   help="run the nodes tex cannot lower through ONNX's reference implementation (slow, Python) "
                   "instead of refusing the model")


def _target_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="llvm", metavar="TARGET",
                   help="'llvm' (host CPU), 'llvm -mcpu=... -mattr=...', 'opencl' or 'opencl -device=N' "
                   "(default: %(default)s; 'tex targets' lists the devices)")


def _log_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", metavar="FILE.jsonl",
                   help="a tuning log from 'tex tune'; without one, kernels use their default schedules")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _budget(text: str) -> float:
    from tex.cli_tune import parse_budget

    return parse_budget(text)


def _tune(args: argparse.Namespace) -> int:
    from tex.cli_tune import run

    return run(args)


def _onnx(command: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        from tex import cli_onnx
        result: int = getattr(cli_onnx, command)(args)
        return result

    return handler


def _not_implemented(issue: int) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        print(f"tex {args.command}: not implemented yet (issue #{issue})", file=sys.stderr)
        return 2

    return handler


def _targets(args: argparse.Namespace) -> int:
    try:
        from tex.targets import list_devices
    except ImportError as e:
        print(f"tex targets: cannot list devices, tex.targets.list_devices is unavailable ({e})", file=sys.stderr)
        return 1
    print(format_table(list_devices(), verbose=args.verbose))
    return 0


# --- the devices table ---------------------------------------------------------------------------------------

_FIRST_COLUMNS = ("index", "name", "kind", "target")
_SHORT_ITEMS = 6


def format_table(records: Iterable[object], verbose: bool = False) -> str:
    """Records (dataclasses, mappings, named tuples or plain objects) as an aligned text table.

    Columns are the union of the records' public fields, `name`, `kind` and `target` first; a
    missing field prints as '-'. Unless `verbose`, a long sequence (CPU features) shows its first
    few items and a count.
    """
    rows = [_fields(r) for r in records]
    if not rows:
        return "(no devices)"
    columns = [c for c in _FIRST_COLUMNS if any(c in r for r in rows)]
    for r in rows:
        columns += [c for c in r if c not in columns]
    cells = [[_cell(r.get(c), verbose) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _fields(record: object) -> dict[str, object]:
    if isinstance(record, Mapping):
        items = dict(record)
    elif dataclasses.is_dataclass(record) and not isinstance(record, type):
        items = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    elif hasattr(record, "_asdict"):  # a named tuple
        items = dict(record._asdict())
    elif hasattr(record, "__dict__"):
        items = dict(vars(record))
    else:
        items = {"name": record}
    return {str(k): v for k, v in items.items() if not str(k).startswith("_")}


def _cell(value: object, verbose: bool) -> str:
    if value is None:
        return "-"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Mapping):
        value = [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [str(v) for v in (sorted(value, key=str) if isinstance(value, (set, frozenset)) else value)]
        if not verbose and len(items) > _SHORT_ITEMS:
            return ",".join(items[:_SHORT_ITEMS]) + f",... ({len(items)} in all; -v shows them)"
        return ",".join(items)
    text = " ".join(str(value).split())  # one line per device, whatever the driver reports
    return text if verbose or len(text) <= 80 else text[:77] + "..."
