"""Inception Score (Salimans et al. 2016), through torch-fidelity.

IS = exp(E_x KL(p(y|x) || p(y))) from the extractor's class logits, over ``is_splits`` splits
and reported as mean ± std, as the literature does. 1 when every prediction is uniform; k for
confident predictions spread evenly over k classes. Higher is better. Needs logits: Inception
from torch-fidelity's weights, or a domain classifier (whose maximum is its class count).
"""
from __future__ import annotations

from torch_fidelity.metric_isc import isc_features_to_metric

from ganforge.metrics.base import MetricInputs, metric


@metric("is", needs_real=False, needs_logits=True, options={"is_splits": 10}, keys=("is_mean", "is_std"),
        higher_is_better=("is_mean",))
def inception_score(inputs: MetricInputs) -> dict[str, float]:
    """exp(mean KL(p(y|x) || p(y))) over splits: is_mean, is_std (higher is better)."""
    logits = inputs.fake["logits"]
    splits = min(inputs.option("is_splits"), len(logits))
    out = isc_features_to_metric(logits, splits=splits, shuffle=True, rng_seed=inputs.seed)
    return {"is_mean": out["inception_score_mean"], "is_std": out["inception_score_std"]}
