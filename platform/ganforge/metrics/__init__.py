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

from ganforge.autoload import import_submodules
from ganforge.registry import Registry

METRICS: Registry = Registry("metric")
EXTRACTORS: Registry = Registry("extractor")

from ganforge.metrics.base import MetricInputs  # noqa: E402
from ganforge.metrics.best import BestTracker  # noqa: E402
from ganforge.metrics.evaluation import Evaluator, evaluate_features, evaluate_generator  # noqa: E402
from ganforge.metrics.extractor import Extractor, resolve_extractor  # noqa: E402
from ganforge.metrics.weights import WeightsNotFoundError  # noqa: E402

__all__ = [
    "METRICS", "EXTRACTORS", "BestTracker", "Evaluator", "Extractor", "MetricInputs", "WeightsNotFoundError",
    "evaluate_features", "evaluate_generator", "resolve_extractor",
]

import_submodules(__name__)
