"""Divergence: the tracked metric (``monitors.track``, FID by default) got worse for
``monitors.patience`` evaluations in a row after its best (FastGAN's FID rising past 25k steps)."""
from __future__ import annotations

from ganforge.train.monitors import MONITORS
from ganforge.train.monitors.best import tracked

ADVICE = "training is diverging: the best checkpoint is kept and registered; stop here or lower the learning rates"


def worsening_run(history: list[float], lower_is_better: bool, tolerance: float = 0.0) -> int:
    """How many evaluations in a row, up to the last, each got worse than the one before by more
    than ``tolerance`` of its value (evaluation noise is not a trend), all after the best."""
    sign = 1 if lower_is_better else -1
    best = min(range(len(history)), key=lambda i: sign * history[i]) if history else 0
    run = 0
    for i in range(len(history) - 1, best, -1):
        if sign * (history[i] - history[i - 1]) <= tolerance * abs(history[i - 1]):
            break
        run += 1
    return run


@MONITORS.register("divergence")
class Divergence:
    """The tracked metric worse for ``monitors.patience`` evaluations in a row after its best."""

    phase = "eval"

    def __init__(self):
        self.history: list[float] = []

    def check(self, probe, options) -> tuple[dict[str, float], str | None]:
        """(monitor.worsening: the current run of worse evaluations), and the alarm message."""
        found = tracked(probe.evaluation or {}, options.track)
        if found is None:
            return {}, None
        key, value, lower = found
        self.history.append(value)
        run = worsening_run(self.history, lower, options.tolerance)
        metrics = {"monitor.worsening": float(run)}
        if run >= options.patience:
            best = min(self.history) if lower else max(self.history)
            return metrics, (f"{key} got worse {run} evaluations in a row after its best {best:.4g} "
                             f"(now {value:.4g}; monitors.patience={options.patience}): {ADVICE}")
        return metrics, None
