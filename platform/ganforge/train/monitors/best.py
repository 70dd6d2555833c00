"""The best evaluated generator of a run, kept for registration (not the last one).

At each evaluation the tracked metric (``monitors.track``: FID by default, under whatever
extractor tag the run's evaluation uses; else the first metric with a direction) is compared with
the best so far; on an improvement the caller saves the sampling generator into ``path``. At the
end the registered model is that file, and tags say which step and value it is.
"""
from __future__ import annotations

from pathlib import Path

BEST_STEP_TAG = "ganforge.best_step"
BEST_METRIC_TAG = "ganforge.best_metric"


def tracked(evaluation: dict, track: str) -> tuple[str, float, bool] | None:
    """(key, value, lower_is_better) of the tracked metric in ``evaluation``, None without one.

    ``track`` matches a key's plain name (``fid`` matches ``domain-digits.fid``); when no key
    matches, the first key that has a direction (and is not a ``*_best``) is tracked.
    """
    from ganforge.metrics.best import directions
    from ganforge.metrics.names import base_key

    table = directions()
    candidates = [k for k in evaluation if not k.endswith("_best") and base_key(k) in table
                  and not k.startswith("baseline.")]
    chosen = [k for k in candidates if base_key(k) == track] or candidates[:1]
    if not chosen:
        return None
    key = chosen[0]
    return key, float(evaluation[key]), table[base_key(key)]


class BestKeeper:
    """Tracks the best evaluation; the caller writes the generator to ``path`` when told."""

    def __init__(self, track: str, directory: str | Path):
        self.track = track
        # generator.pt: the one name sampling, serving and evaluate look for in a logged model.
        self.path = Path(directory) / "best" / "generator.pt"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key: str | None = None
        self.value: float | None = None
        self.step: int | None = None

    def improved(self, step: int, evaluation: dict) -> bool:
        """Fold in one evaluation; True when it is the new best (save the generator now)."""
        found = tracked(evaluation, self.track)
        if found is None:
            return False
        key, value, lower = found
        if value != value:  # NaN is never a best
            return False
        if self.value is not None and not (value < self.value if lower else value > self.value):
            return False
        self.key, self.value, self.step = key, value, step
        return True

    def tags(self) -> dict[str, str]:
        """What the run is tagged with about the registered (best) generator."""
        if self.step is None:
            return {}
        return {BEST_STEP_TAG: str(self.step), BEST_METRIC_TAG: f"{self.key}={self.value:.6g}"}
