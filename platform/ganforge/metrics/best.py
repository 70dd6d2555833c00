"""Best values of metrics across the evaluations of one run (``fid_best``, ``is_mean_best``, ...).

Each registered metric declares which of its keys are better lower or higher, so the tracker
needs no table of names. The training loop keeps one tracker per run and passes it to
:func:`~ganforge.metrics.evaluate_generator`, which adds the ``*_best`` keys to what it returns
(and so to MLflow and to Ray Tune's reported metrics). On resume, seed it with the bests so far:
``BestTracker({"fid": 12.3})``.
"""
from __future__ import annotations

from ganforge.metrics import METRICS


def directions() -> dict[str, bool]:
    """key -> True when lower is better, False when higher is better, for every registered key."""
    table: dict[str, bool] = {}
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
            if key not in table or value != value:  # skip keys without a direction, and NaN
                continue
            lower = table[key]
            current = self.best.get(key)
            if current is None or (value < current if lower else value > current):
                self.best[key] = float(value)
        return {f"{key}_best": value for key, value in self.best.items() if key in values}
