"""Kernel Inception Distance (Bińkowski et al. 2018), through torch-fidelity.

The unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
random subsets: ``kid_mean`` ± ``kid_std``. Unbiased, so it can be slightly negative when the
distributions match; lower is better. The subset size is capped by the smaller sample.
"""
from __future__ import annotations

from torch_fidelity.metric_kid import kid_features_to_metric

from ganforge.metrics.base import MetricInputs, metric


@metric("kid", options={"kid_subsets": 100, "kid_subset_size": 1000}, keys=("kid_mean", "kid_std"),
        lower_is_better=("kid_mean",))
def kid(inputs: MetricInputs) -> dict[str, float]:
    """Polynomial-kernel MMD^2 over subsets: kid_mean, kid_std (lower is better)."""
    fake, real = inputs.fake["pool"], inputs.real.features
    size = min(inputs.option("kid_subset_size"), len(fake), len(real))
    out = kid_features_to_metric(fake, real, kid_subsets=inputs.option("kid_subsets"), kid_subset_size=size,
                                 rng_seed=inputs.seed, verbose=False)
    return {"kid_mean": out["kernel_inception_distance_mean"], "kid_std": out["kernel_inception_distance_std"]}
