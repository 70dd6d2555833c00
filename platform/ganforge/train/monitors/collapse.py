"""Mode collapse: a fixed-seed sample batch loses diversity, or covers few of the data's classes.

Diversity is the mean pairwise distance of the batch's features in the evaluation extractor's
space, divided by that of as many real images (1: as varied as the data; 0: one image). On
labelled data with a classifier extractor (``domain:<data set>``), coverage is the share of the
classes that the samples' predicted labels hit.
"""
from __future__ import annotations

import torch

from ganforge.train.monitors import MONITORS

ADVICE = ("the generator is collapsing: lower the learning rates, add spectral norm or a gradient "
          "penalty, or keep the best checkpoint (the registered model is the best evaluated one)")


MAX_ROWS = 1000  # pairwise distances of at most this many rows (an evaluation may hand 50k)


def mean_pairwise_distance(features: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of the first ``MAX_ROWS`` rows (0 for one distinct row)."""
    features = features[:MAX_ROWS].double()
    n = features.shape[0]
    if n < 2:
        return 0.0
    return float(torch.cdist(features, features).sum() / (n * (n - 1)))


def class_coverage(logits: torch.Tensor, num_classes: int) -> float:
    """Share of the ``num_classes`` classes that are some sample's predicted class."""
    return len(torch.unique(logits.argmax(dim=1))) / num_classes


@MONITORS.register("collapse")
class Collapse:
    """Diversity below ``monitors.diversity_min`` of the data's, or class coverage below ``monitors.coverage_min``."""

    phase = "eval"

    def check(self, probe, options) -> tuple[dict[str, float], str | None]:
        """(monitor.diversity, monitor.class_coverage on labelled data), and the alarm message."""
        fake = probe.samples()
        real = probe.real_pool()
        if fake is None or real is None:
            return {}, None
        n = min(len(fake["pool"]), len(real))
        reference = mean_pairwise_distance(real[:n])
        diversity = mean_pairwise_distance(fake["pool"]) / max(reference, 1e-12)
        metrics, problems = {"monitor.diversity": diversity}, []
        if diversity < options.diversity_min:
            problems.append(f"sample diversity {diversity:.3f} of the data's < monitors.diversity_min={options.diversity_min}")
        logits = fake.get("logits")
        if probe.num_classes and logits is not None and logits.shape[1] == probe.num_classes:
            coverage = class_coverage(logits, probe.num_classes)
            metrics["monitor.class_coverage"] = coverage
            if coverage < options.coverage_min:
                problems.append(f"samples cover {coverage:.0%} of the {probe.num_classes} classes "
                                f"< monitors.coverage_min={options.coverage_min}")
        return metrics, ("; ".join(problems) + f": {ADVICE}") if problems else None
