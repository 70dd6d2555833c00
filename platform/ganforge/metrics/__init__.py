"""Evaluation metrics: FID, KID, IS, precision/recall, MiFID, KMMD, and paired image metrics.

Two registries, filled by the decorators in this package's modules:

- ``METRICS``: distribution metrics (``fid``, ``kid``, ``is``, ``prc``, ``mifid``, ``kmmd``). Each
  entry is a :class:`~ganforge.metrics.base.MetricDef` that turns generated features (and the
  cached real statistics) into a dict of floats.
- ``EXTRACTORS``: feature extractors by kind (``inception``, ``domain``, ``clip``, ``auto``);
  ``domain:digits`` is kind ``domain`` with argument ``digits``. Each builds an
  :class:`~ganforge.metrics.extractor.Extractor` around a torch-fidelity feature extractor, and
  says (``metric_tag``) what its metric keys carry.

Metric keys say their network (:mod:`ganforge.metrics.names`): ``fid`` is the standard
Inception's, ``domain-digits.fid`` the digits classifier's. The training loop (train/reporter.py)
and ``ganforge evaluate`` both build an :class:`Evaluator` once and call it; Tune checks a
search's metric against :func:`~ganforge.metrics.evaluation.planned_keys`;
:func:`evaluate_generator` is the one-call form. Paired metrics for reconstruction / translation
models (MSE, PSNR, SSIM, MS-SSIM, LPIPS) are plain functions in :mod:`ganforge.metrics.paired` and
:mod:`ganforge.metrics.lpips`.
"""
from __future__ import annotations

import importlib

from ganforge.registry import Registry

# Filled on first lookup (registry.py): importing ganforge.metrics costs nothing until a metric is used.
METRICS: Registry = Registry("metric", package=__name__)
EXTRACTORS: Registry = Registry("extractor", package=__name__)

# The package's public names, each imported from its module when first asked for (PEP 562).
_EXPORTS = {
    "BestTracker": "best", "Evaluator": "evaluation", "evaluate_features": "evaluation",
    "evaluate_generator": "evaluation", "Extractor": "extractor", "resolve_extractor": "extractor",
    "MetricInputs": "base", "WeightsNotFoundError": "weights",
}
__all__ = ["METRICS", "EXTRACTORS", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
