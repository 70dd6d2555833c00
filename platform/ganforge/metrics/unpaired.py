"""Evaluate an unpaired translation model (CycleGAN) on two held-out domains A and B.

There are no targets to compare outputs with, so the scores are distributional, as in the
CycleGAN literature's FID tables, each beside the "did nothing" baseline:

- ``fid_a2b``: FID of G_AB(A) against B, beside ``baseline.fid_a2b`` = FID of A against B (a model
  that returns its input scores the baseline); ``fid_b2a`` likewise the other way;
- ``cycle_l1``: mean |G_BA(G_AB(a)) - a| over A and |G_AB(G_BA(b)) - b| over B (``cycle_l1_a``,
  ``cycle_l1_b``, and their mean ``cycle_l1``), in [-1, 1] units on 8-bit-rounded images.

Features come from :mod:`ganforge.metrics.extractor` (keys carry a non-standard extractor's tag,
``domain-digits.fid_a2b``); ``auto`` means the data set's ``extractor`` attribute where it has one
(digits pairs: ``domain:digits``), else the standard Inception. FID needs at least 2 images a domain.
"""
from __future__ import annotations

from typing import Any, Iterable

import torch

from ganforge.metrics.best import BASELINE_PREFIX
from ganforge.metrics.evaluation import eval_mode
from ganforge.metrics.translation import quantised

UNPAIRED_METRICS = {  # metric name -> {key it reports: lower is better}
    "fid": {"fid_a2b": True, "fid_b2a": True},
    "cycle_l1": {"cycle_l1": True, "cycle_l1_a": True, "cycle_l1_b": True},
}
FID_KEYS = ("fid_a2b", "fid_b2a")


def metric_names(metrics: str | Iterable[str]) -> list[str]:
    """The requested unpaired metrics (a list or "fid,cycle_l1"), checked, in order."""
    names = [n.strip() for n in (metrics.split(",") if isinstance(metrics, str) else metrics) if n.strip()]
    unknown = [n for n in names if n not in UNPAIRED_METRICS]
    if unknown or not names:
        raise ValueError(f"unknown unpaired metric(s) {unknown or '(none given)'}; valid: {', '.join(UNPAIRED_METRICS)}")
    return list(dict.fromkeys(names))


def planned_keys(metrics: str | Iterable[str], extractor_tag: str | None = None) -> list[str]:
    """The keys :func:`evaluate_unpaired` returns for ``metrics``, without loading anything."""
    from ganforge.metrics.names import qualify

    keys = []
    for name in metric_names(metrics):
        found = [qualify(k, extractor_tag) for k in UNPAIRED_METRICS[name]] if name == "fid" else list(UNPAIRED_METRICS[name])
        keys += found + ([BASELINE_PREFIX + k for k in found] if name == "fid" else [])
    return keys


def directions() -> dict[str, bool]:
    """plain key -> True (lower is better) for every key the unpaired metrics report."""
    return {key: lower for keys in UNPAIRED_METRICS.values() for key, lower in keys.items()}


@torch.no_grad()
def translate_all(generator: torch.nn.Module, images: torch.Tensor, direction: str, batch_size: int,
                  device) -> torch.Tensor:
    """``generator(images, direction)`` in batches, on ``device``, as float32 on the CPU."""
    parts = [generator(images[i:i + batch_size].to(device), direction).float().cpu()
             for i in range(0, len(images), batch_size)]
    return torch.cat(parts)


def domain_images(dataset, limit: int | None = None) -> torch.Tensor:
    """The first ``limit`` images of a domain (ImageDataset) as one [N, C, H, W] tensor in [-1, 1]."""
    count = len(dataset) if limit is None else min(limit, len(dataset))
    return torch.stack([dataset[i][0] for i in range(count)])


def fid_between(x_features: torch.Tensor, y_features: torch.Tensor) -> float:
    """FID between two feature sets (torch-fidelity's statistics and distance)."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    from ganforge.metrics.base import RealStats
    from ganforge.metrics.evaluation import evaluate_features

    stats = fid_features_to_statistics(y_features)
    return evaluate_features(["fid"], {"pool": x_features}, RealStats(y_features, stats["mu"], stats["sigma"]))["fid"]


def resolve(extractor: Any, data_entry=None, device="cpu", inception_weights: str | None = None):
    """The loaded extractor ``extractor`` names (``auto``: the data set's own default, else inception)."""
    from ganforge.metrics.extractor import ExtractorContext, resolve_extractor

    if not isinstance(extractor, str):
        return extractor
    if extractor == "auto":
        extractor = getattr(data_entry, "extractor", None) or "inception"
    return resolve_extractor(extractor, ExtractorContext(device=device, inception_weights=inception_weights))


def features(extractor, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The extractor's pool features of ``images`` (quantised to 8 bits first), in batches."""
    return torch.cat([extractor.features(images[i:i + batch_size])["pool"].double().cpu()
                      for i in range(0, len(images), batch_size)])


def evaluate_unpaired(generator: torch.nn.Module, a: torch.Tensor, b: torch.Tensor, metrics: str | Iterable[str],
                      device="cpu", batch_size: int = 64, *, extractor: Any = "inception") -> dict[str, float]:
    """Metrics of a CycleGenerator on held-out domain images ``a`` and ``b`` ([N, C, H, W] in [-1, 1]).

    ``extractor``: a loaded Extractor (or a name for :func:`resolve`), used only for ``fid``.
    Returns e.g. ``{"fid_a2b": 21.0, "baseline.fid_a2b": 48.2, ..., "cycle_l1": 0.04}``.
    """
    from ganforge.metrics.names import qualify

    names = metric_names(metrics)
    if "fid" in names and min(len(a), len(b)) < 2:
        raise ValueError(f"fid compares feature distributions and needs at least 2 images a domain, got {len(a)} "
                         f"and {len(b)}; evaluate on more held-out images or leave fid out of eval.metrics")
    with eval_mode(generator):
        fake_b = quantised(translate_all(generator, a, "a2b", batch_size, device)).float()
        fake_a = quantised(translate_all(generator, b, "b2a", batch_size, device)).float()
        results: dict[str, float] = {}
        if "cycle_l1" in names:
            rec_a = quantised(translate_all(generator, fake_b, "b2a", batch_size, device))
            rec_b = quantised(translate_all(generator, fake_a, "a2b", batch_size, device))
            cycle_a = float((rec_a - quantised(a)).abs().mean())
            cycle_b = float((rec_b - quantised(b)).abs().mean())
            results.update({"cycle_l1_a": cycle_a, "cycle_l1_b": cycle_b, "cycle_l1": (cycle_a + cycle_b) / 2})
    if "fid" in names:
        extractor = resolve(extractor, device=device)
        feats = {key: features(extractor, images, batch_size) for key, images in
                 (("a", a), ("b", b), ("fake_a", fake_a), ("fake_b", fake_b))}
        tag = extractor.metric_tag
        results[qualify("fid_a2b", tag)] = fid_between(feats["fake_b"], feats["b"])
        results[BASELINE_PREFIX + qualify("fid_a2b", tag)] = fid_between(feats["a"], feats["b"])
        results[qualify("fid_b2a", tag)] = fid_between(feats["fake_a"], feats["a"])
        results[BASELINE_PREFIX + qualify("fid_b2a", tag)] = fid_between(feats["b"], feats["a"])
    return results
