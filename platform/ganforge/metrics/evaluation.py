"""Evaluate a generator: generated features + cached real statistics -> registered metrics.

:class:`Evaluator` resolves everything that can fail (metric names, options, extractor and its
weights, logits for IS) before any image is generated, then streams generated batches through the
extractor so memory stays flat at any n. Its values are keyed by names that say the network
(``fid`` for the standard Inception, ``domain-digits.fid`` otherwise; :mod:`ganforge.metrics.names`),
so the training loop, ``ganforge evaluate`` and Tune all see the same names. :func:`planned_keys`
lists them for a spec without building anything. :func:`evaluate_generator` is the one-call form.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

from ganforge.metrics import METRICS, realdata
from ganforge.metrics.base import MetricDef, MetricInputs, RealStats, resolve_options
from ganforge.metrics.best import BestTracker
from ganforge.metrics.extractor import Extractor, ExtractorContext, planned_metric_tag, resolve_extractor
from ganforge.metrics.names import qualify
from ganforge.metrics.real_stats import real_statistics
from ganforge.noise import derive_seed

Sampler = Callable[..., torch.Tensor]  # ganforge.sampling.sample_images' signature


def metric_definitions(names: str | Iterable[str]) -> list[MetricDef]:
    """The registered metrics ``names`` (a list or "fid,kid"; deduplicated, in order).

    Unknown names raise a KeyError listing the valid ones.
    """
    names = names.split(",") if isinstance(names, str) else names
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise ValueError(f"no metrics requested; valid: {', '.join(METRICS.names())}")
    return [METRICS.get(name) for name in dict.fromkeys(names)]


def check_supported(definitions: list[MetricDef], extractor: Extractor) -> None:
    """Refuse, before any work, metrics the extractor cannot serve (IS needs logits)."""
    for definition in definitions:
        if definition.needs_logits and not extractor.has_logits:
            raise ValueError(f"metric {definition.name!r} needs class logits, which extractor "
                             f"{extractor.name!r} does not give: {extractor.no_logits_hint}")


def metric_keys(definitions: list[MetricDef], tag: str | None) -> list[str]:
    """Keys an evaluation of ``definitions`` returns under extractor ``tag``, then its ``*_best`` keys."""
    keys = [key for d in definitions for key in d.keys]
    keys += [f"{key}_best" for d in definitions for key in (*d.lower_is_better, *d.higher_is_better)]
    return [qualify(key, tag) for key in keys]


def planned_keys(spec, inception_weights: str | None = None) -> list[str]:
    """The keys periodic evaluation of ``spec`` (its ``eval`` section) will report, ``*_best`` included.

    Nothing is loaded or trained: the extractor's tag comes from its factory's ``metric_tag``.
    """
    context = ExtractorContext(data_spec=spec.data, inception_weights=inception_weights)
    return metric_keys(metric_definitions(spec.eval.metrics), planned_metric_tag(spec.eval.extractor, context))


def evaluate_features(metrics: Iterable[str], fake: dict[str, torch.Tensor], real: RealStats | None = None, *,
                      seed: int = 0, options: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Metrics from precomputed features: ``fake`` {"pool", "logits"?} and the real statistics.

    Keys are the metrics' plain ones: features do not say which network made them (the
    :class:`Evaluator` adds the extractor's tag).
    """
    definitions = metric_definitions(metrics)
    if real is None and any(d.needs_real for d in definitions):
        raise ValueError("these metrics compare with real data: pass the real statistics")
    inputs = MetricInputs(fake=fake, real=real, seed=seed, options=resolve_options(definitions, options))
    values: dict[str, float] = {}
    for definition in definitions:
        values.update(definition.compute(inputs))
    return values


@contextmanager
def eval_mode(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run ``module`` in eval mode (BatchNorm must not update running stats), then restore."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def default_sampler() -> Sampler:
    """ganforge's own latent sampling (seeded latents, truncation, cycling class labels)."""
    from ganforge.sampling import sample_images

    return sample_images


@torch.no_grad()
def generated_features(generator: torch.nn.Module, extractor: Extractor, n: int, *, seed: int = 0,
                       batch_size: int = 100, truncation: float | None = None,
                       sampler: Sampler | None = None) -> dict[str, torch.Tensor]:
    """Features of ``n`` generated images, one batch at a time (images are not kept).

    Batch i uses latents seeded by (seed, i): the same images at every evaluation of a run, so
    values at different steps differ because the generator changed, not the noise.
    """
    sampler = sampler or default_sampler()
    chunks = []
    with eval_mode(generator):
        for index, start in enumerate(range(0, n, batch_size)):
            size = min(batch_size, n - start)
            images = sampler(generator, size, seed=derive_seed(seed, "eval", index), truncation=truncation,
                             batch_size=size)
            chunks.append(extractor.features(images))
    return {key: torch.cat([chunk[key] for chunk in chunks]) for key in chunks[0]}


@dataclass
class Evaluator:
    """A resolved evaluation: call it with a generator to get the metric values."""

    definitions: list[MetricDef]
    extractor: Extractor
    dataset: Any
    data: dict[str, Any]  # the data spec as a dict (real-statistics cache key)
    n: int
    seed: int = 0
    batch_size: int = 100
    truncation: float | None = None
    options: Mapping[str, Any] | None = None
    sampler: Sampler | None = None

    @classmethod
    def from_spec(cls, spec, metrics: Iterable[str] | None = None, n: int | None = None, extractor: str | None = None,
                  device: torch.device | str = "cpu", *, dataset=None, seed: int | None = None,
                  options: Mapping[str, Any] | None = None, sampler: Sampler | None = None,
                  inception_weights: str | None = None) -> "Evaluator":
        """Resolve metrics, options and the extractor for ``spec`` (an ExperimentSpec); fails fast."""
        definitions = metric_definitions(spec.eval.metrics if metrics is None else metrics)
        options = resolve_options(definitions, options)
        dataset = dataset if dataset is not None else realdata.build_real_dataset(spec.data)
        context = ExtractorContext(device=device, data_spec=spec.data, dataset=dataset,
                                   inception_weights=inception_weights)
        resolved = resolve_extractor(extractor or spec.eval.extractor, context)
        check_supported(definitions, resolved)
        # The cache key: the data spec minus settings that cannot change the images.
        data = spec.data.model_dump(mode="json", exclude={"num_workers", "download"})
        return cls(definitions, resolved, dataset, data, n or spec.eval.n,
                   spec.train.seed if seed is None else seed, spec.eval.batch_size, spec.eval.truncation,
                   options, sampler)

    def real_stats(self, refresh: bool = False) -> RealStats | None:
        """The cached real statistics, or None when no requested metric needs them."""
        if not any(definition.needs_real for definition in self.definitions):
            return None
        return real_statistics(self.dataset, self.extractor, self.n, data=self.data,
                               batch_size=self.batch_size, refresh=refresh)

    @property
    def keys(self) -> list[str]:
        """The keys a call returns (``*_best`` ones only when given a tracker)."""
        return metric_keys(self.definitions, self.extractor.metric_tag)

    def __call__(self, generator: torch.nn.Module, best: BestTracker | None = None) -> dict[str, float]:
        """Metric values for ``generator``, keyed by names that carry the extractor (plus ``*_best``
        keys when a tracker is given)."""
        real = self.real_stats()
        fake = generated_features(generator, self.extractor, self.n, seed=self.seed, batch_size=self.batch_size,
                                  truncation=self.truncation, sampler=self.sampler)
        plain = evaluate_features([d.name for d in self.definitions], fake, real, seed=self.seed,
                                  options=self.options)
        values = {qualify(key, self.extractor.metric_tag): value for key, value in plain.items()}
        if best is not None:
            values.update(best.update(values))
        return values


def evaluate_generator(generator: torch.nn.Module, spec, metrics: Iterable[str] | None = None, n: int | None = None,
                       extractor: str | None = None, device: torch.device | str = "cpu",
                       *, dataset=None, best: BestTracker | None = None, **kwargs: Any) -> dict[str, float]:
    """Evaluate ``generator`` against ``spec.data`` once: :class:`Evaluator` built and called.

    Defaults come from ``spec.eval`` (metrics, n, extractor, batch_size, truncation) and
    ``spec.train.seed``; every call uses the same latents. Pass the ``dataset`` to avoid rebuilding
    it, and a :class:`BestTracker` to get ``<key>_best`` entries. Real statistics come from the
    cache after the first call. ``kwargs``: seed, options, sampler, inception_weights. Returns e.g.
    ``{"domain-digits.fid": ..., "domain-digits.kid_mean": ...}`` (``{"fid": ...}`` with Inception).
    """
    evaluator = Evaluator.from_spec(spec, metrics, n, extractor, device, dataset=dataset, **kwargs)
    return evaluator(generator, best=best)
