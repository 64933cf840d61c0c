"""Cost models: predict which configs of a task run fastest, from the configs measured so far."""

from tex.tune.cost_model.base import CostModel
from tex.tune.cost_model.xgb_model import XGBoostCostModel

__all__ = ["CostModel", "XGBoostCostModel"]
