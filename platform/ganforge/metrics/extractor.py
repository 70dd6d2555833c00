"""Feature extractors: torch-fidelity's registry underneath, ganforge's names on top.

An :class:`Extractor` wraps one torch-fidelity ``FeatureExtractorBase`` (its own Inception, or a
ganforge class registered into torch-fidelity's registry with ``register_feature_extractor``),
so the same network can be handed to ``torch_fidelity.calculate_metrics`` and give the same
numbers. ganforge's names resolve through ``EXTRACTORS``: ``"domain:digits"`` calls the
``domain`` factory with argument ``"digits"``. Each factory carries a ``metric_tag(argument,
context)`` function beside it, so the metric names an extractor gives are known before it is
loaded (:func:`planned_metric_tag`). Loaded networks are kept per process, so periodic
evaluation during training does not reload weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge.metrics import EXTRACTORS
from ganforge.metrics.images import to_uint8_rgb
from ganforge.metrics.names import extractor_tag

_LOADED: dict[tuple, "Extractor"] = {}


@dataclass
class ExtractorContext:
    """What an extractor factory may use to decide and build."""

    device: torch.device | str = "cpu"
    data_spec: Any = None  # the evaluated DataSpec (``auto`` -> ``domain:<its name>``)
    dataset: Any = None  # the real data set (``auto`` looks at its labels)
    inception_weights: str | None = None  # --inception-weights

    @property
    def data_name(self) -> str | None:
        """Name of the evaluated data set, if known."""
        return getattr(self.data_spec, "name", None)


class Extractor:
    """A loaded feature network: uint8 RGB batches in, ``{"pool": ..., "logits": ...}`` out.

    ``name`` is what is printed and logged next to the metrics; ``identity`` (name plus a digest
    of the weights) keys the real-statistics cache. ``calls`` counts forward batches, which the
    cache test asserts on. ``log_weights``: the weights are ganforge's own (a domain classifier)
    and small, so ``ganforge evaluate`` stores them as an MLflow artifact beside the metrics.
    ``standard``: the standard Inception network, whose metrics keep the plain names (``fid``);
    every other extractor's keys carry its :attr:`metric_tag` (``domain-digits.fid``).
    """

    def __init__(self, name: str, module: torch.nn.Module, *, pool_key: str, logits_key: str | None,
                 identity: str, weights_path: Path | None = None, no_logits_hint: str = "",
                 log_weights: bool = False, standard: bool = False):
        self.name, self.module, self.identity = name, module, identity
        self.pool_key, self.logits_key = pool_key, logits_key
        self.weights_path, self.no_logits_hint, self.log_weights = weights_path, no_logits_hint, log_weights
        self.standard = standard
        self.calls = 0

    @property
    def metric_tag(self) -> str | None:
        """What this extractor's metric keys carry (None: plain keys, the standard Inception)."""
        return None if self.standard else extractor_tag(self.name)

    @property
    def has_logits(self) -> bool:
        """Whether this network gives class logits (needed by the Inception Score)."""
        return self.logits_key is not None

    @property
    def device(self) -> torch.device:
        """Where the network's weights live (inputs are moved there)."""
        return next(self.module.parameters()).device

    @torch.no_grad()
    def __call__(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of a uint8 [B, 3, H, W] batch, on the CPU as float32."""
        self.calls += 1
        raw = self.module.convert_features_tuple_to_dict(self.module(pixels.to(self.device)))
        out = {"pool": raw[self.pool_key].float().cpu()}
        if self.logits_key:
            out["logits"] = raw[self.logits_key].float().cpu()
        return out

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of [-1, 1] float images (quantised to uint8 first, like saved PNGs)."""
        return self(to_uint8_rgb(images))


def register_with_torch_fidelity(tf_name: str, cls: type) -> None:
    """Add ``cls`` to torch-fidelity's feature-extractor registry once per process."""
    from torch_fidelity import register_feature_extractor
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    if tf_name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(tf_name, cls)


def load_extractor(name: str, tf_name: str, *, pool_key: str, logits_key: str | None, weights_path: Path,
                   identity: str, device: torch.device | str = "cpu", no_logits_hint: str = "",
                   log_weights: bool = False, standard: bool = False) -> Extractor:
    """Build (or reuse) torch-fidelity extractor ``tf_name`` from local ``weights_path``.

    The weights path is always given: torch-fidelity would otherwise download them.
    """
    from torch_fidelity.utils import create_feature_extractor

    features = [pool_key] + ([logits_key] if logits_key else [])
    key = (tf_name, str(weights_path), tuple(features), str(torch.device(device)))
    if key not in _LOADED:
        module = create_feature_extractor(tf_name, features, cuda=False, verbose=False,
                                          feature_extractor_weights_path=str(weights_path))
        _LOADED[key] = Extractor(name, module.to(device), pool_key=pool_key, logits_key=logits_key,
                                 identity=identity, weights_path=weights_path, no_logits_hint=no_logits_hint,
                                 log_weights=log_weights, standard=standard)
    return _LOADED[key]


def resolve_extractor(text: str, context: ExtractorContext | None = None) -> Extractor:
    """The extractor ``text`` names: ``kind`` or ``kind:argument`` (e.g. ``domain:digits``)."""
    kind, _, argument = text.partition(":")
    factory = EXTRACTORS.get(kind)
    return factory(argument or None, context or ExtractorContext())


def planned_metric_tag(text: str, context: ExtractorContext | None = None) -> str | None:
    """The :attr:`Extractor.metric_tag` extractor ``text`` will have, without loading or training it.

    Each registered factory carries a ``metric_tag(argument, context)`` function beside it, so a
    spec's metric names can be checked before any work (``ganforge tune`` does, before Ray).
    """
    kind, _, argument = text.partition(":")
    return EXTRACTORS.get(kind).metric_tag(argument or None, context or ExtractorContext())


def forget_loaded_extractors() -> None:
    """Drop the per-process extractor memo (tests; or to free memory after an evaluation)."""
    _LOADED.clear()
