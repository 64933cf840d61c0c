"""The cost-model interface the model-based tuner uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tex.tune.record import Record
from tex.tune.space import Config


class CostModel:
    """Scores configs of one task: higher means faster. `fit` on measured configs, `fit_log` on records of
    other tasks (transfer learning), `predict` for candidates."""

    def fit(self, configs: Sequence[Config], costs: Sequence[float]) -> None:
        raise NotImplementedError

    def fit_log(self, records: Sequence[Record]) -> None:
        raise NotImplementedError

    def predict(self, configs: Sequence[Config]) -> np.ndarray:
        raise NotImplementedError
