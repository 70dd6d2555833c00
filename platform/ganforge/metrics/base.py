"""What a distribution metric is: a registered function from features to a dict of floats.

A metric module defines one function and registers it with :func:`metric`, declaring what it
needs (real statistics, classifier logits), its options with defaults, the keys it returns (so
that a spec's metric names are checked before any work), and which of them are better when lower
or higher (so that :class:`~ganforge.metrics.best.BestTracker` can keep bests without a table of
names).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ganforge.metrics import METRICS


@dataclass(frozen=True)
class RealStats:
    """Features of the real images and their FID statistics (as torch-fidelity computes them)."""

    features: torch.Tensor  # [M, D] float32, the extractor's pool features
    mu: np.ndarray  # [D]
    sigma: np.ndarray  # [D, D]
    key: str = ""  # the cache key these came from


@dataclass
class MetricInputs:
    """Everything a metric may use. ``memo`` lets metrics share a result (MiFID reuses FID)."""

    fake: dict[str, torch.Tensor]  # "pool" [N, D]; "logits" [N, K] when the extractor has them
    real: RealStats | None
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        """The value of option ``name`` (always present: defaults are filled in beforehand)."""
        return self.options[name]


@dataclass(frozen=True)
class MetricDef:
    """A registered metric: its function plus what it needs and how its keys compare."""

    name: str
    compute: Callable[[MetricInputs], dict[str, float]]
    needs_real: bool = True
    needs_logits: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # every key ``compute`` returns, plain (the standard Inception's names)
    lower_is_better: tuple[str, ...] = ()
    higher_is_better: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """First line of the function's docstring (for listings and --help)."""
        return ((self.compute.__doc__ or "").strip().splitlines() or [""])[0]


def metric(name: str, **declaration: Any) -> Callable:
    """Decorator: register ``fn(inputs) -> dict`` as metric ``name`` (see :class:`MetricDef`)."""

    def register(fn: Callable[[MetricInputs], dict[str, float]]) -> Callable:
        METRICS.register(name)(MetricDef(name=name, compute=fn, **declaration))
        return fn

    return register


def resolve_options(defs: list[MetricDef], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of ``defs`` overridden by ``given``; an unknown option name is an error."""
    options: dict[str, Any] = {}
    for definition in defs:
        options.update(definition.options)
    unknown = sorted(set(given or {}) - set(options))
    if unknown:
        valid = ", ".join(sorted(options)) or "(none for these metrics)"
        raise ValueError(f"unknown metric option(s) {unknown}; valid for the chosen metrics: {valid}")
    options.update(given or {})
    return options
