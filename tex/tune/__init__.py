"""Tuning: config spaces and templates, tasks, measurement, tuners, the XGBoost cost model and records.

    @tune.template("matmul")
    def matmul(M, N, K, dtype): ...; cfg = tune.get_config(); cfg.define_split(...); return s, [A, B, C]
    task = tune.create_task("matmul", (512, 512, 512, "float32"), target="llvm")
    tune.XGBTuner(task).tune(200, tune.measure_option(), callbacks=[tune.callback.log_to_file("mm.jsonl")])
    with tune.apply_history_best("mm.jsonl"):
        s, args = matmul(512, 512, 512, "float32")
"""

from tex.tune import callback
from tex.tune.context import get_config
from tex.tune.dispatch import ApplyHistoryBest, apply_history_best
from tex.tune.measure import (
    BuildResult,
    LocalBuilder,
    LocalRunner,
    MeasureErrorKind,
    MeasureInput,
    MeasureOption,
    MeasureResult,
    measure_option,
)
from tex.tune.record import Record, append_records, load_records, pick_best
from tex.tune.space import Config, ConfigSpace
from tex.tune.task import Task, count_flop, create_task
from tex.tune.template import Template, template
from tex.tune.tuner.ga_tuner import GATuner
from tex.tune.tuner.grid_tuner import GridSearchTuner
from tex.tune.tuner.random_tuner import RandomTuner
from tex.tune.tuner.tuner import Tuner
from tex.tune.tuner.xgb_tuner import XGBTuner

__all__ = [
    "ApplyHistoryBest", "BuildResult", "Config", "ConfigSpace", "GATuner", "GridSearchTuner", "LocalBuilder",
    "LocalRunner", "MeasureErrorKind", "MeasureInput", "MeasureOption", "MeasureResult", "RandomTuner", "Record",
    "Task", "Template", "Tuner", "XGBTuner", "append_records", "apply_history_best", "callback", "count_flop",
    "create_task", "get_config", "load_records", "measure_option", "pick_best", "template",
]
