"""Best values of metrics across the evaluations of one run (``fid_best``, ``domain-digits.fid_best``).

Each registered metric declares which of its keys are better lower or higher, so the tracker
needs no table of names; a key that carries an extractor tag (``domain-digits.fid``) takes the
direction of its plain key. :class:`~ganforge.metrics.evaluation.Evaluator` folds each evaluation
into the tracker it is given and returns the ``*_best`` keys with the values; the training loop
logs both (to MLflow and to Ray Tune's reports). A tracker starts from ``initial`` (the bests a
resumed run had logged: ``BestTracker({"domain-digits.fid": 12.3})``).
"""
from __future__ import annotations

from ganforge.metrics import METRICS
from ganforge.metrics.names import base_key

BASELINE_PREFIX = "baseline."  # the prefix of a baseline's values (metrics.translation)


def directions() -> dict[str, bool]:
    """plain key -> True when lower is better, False when higher is better, for every registered
    key: generated-sample metrics, paired translation metrics (psnr_y, ssim_y, l1, ...) and unpaired
    ones (fid_a2b, cycle_l1, ...)."""
    from ganforge.metrics.translation import directions as translation_directions
    from ganforge.metrics.unpaired import directions as unpaired_directions

    table: dict[str, bool] = {**translation_directions(), **unpaired_directions()}
    for _, definition in METRICS.items():
        table.update({key: True for key in definition.lower_is_better})
        table.update({key: False for key in definition.higher_is_better})
    return table


class BestTracker:
    """Running best of each directional key seen by :meth:`update`."""

    def __init__(self, initial: dict[str, float] | None = None):
        self.best: dict[str, float] = dict(initial or {})

    def update(self, values: dict[str, float]) -> dict[str, float]:
        """Fold ``values`` in; returns ``{"<key>_best": best}`` for each directional key present."""
        table = directions()
        for key, value in values.items():
            # A baseline (bicubic, identity) does not train: its best is its value, not news.
            lower = None if key.startswith(BASELINE_PREFIX) else table.get(base_key(key))
            if lower is None or value != value:  # skip keys without a direction, and NaN
                continue
            current = self.best.get(key)
            if current is None or (value < current if lower else value > current):
                self.best[key] = float(value)
        return {f"{key}_best": value for key, value in self.best.items() if key in values}
