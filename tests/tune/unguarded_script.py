"""A script that tunes at import time, without `if __name__ == "__main__":` (a mistake the guard catches).

Workers import the file that defines a template; here that import would start tuning again, in the
worker, and so on without end. The test imports this module and checks the error the workers report.
"""

from __future__ import annotations

import tex
from tex import tune


@tune.template("test.unguarded")
def double(n: int) -> tuple[tex.Schedule, list[tex.Tensor]]:
    A = tex.placeholder((n,), name="A")
    B = tex.compute((n,), lambda i: A[i] * 2, name="B")
    return tex.create_schedule(B), [A, B]


_task = tune.create_task("test.unguarded", (16,))
_option = tune.measure_option(tune.LocalBuilder(n_parallel=1, timeout=30), tune.LocalRunner(number=1, repeat=1))
try:
    RESULTS = _option.measure([tune.MeasureInput(_task, _task.config_space.default())])
finally:
    _option.close()
