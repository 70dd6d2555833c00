"""Fréchet Inception Distance (Heusel et al. 2017), through torch-fidelity's own functions.

FID = |mu_g - mu_r|^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2)) between Gaussians fitted to generated
and real features. Lower is better; 0 for identical feature sets. The real side comes from the
cache; statistics and the distance use torch-fidelity's code, so the numbers equal
``torch_fidelity.calculate_metrics`` on the same images and extractor.
"""
from __future__ import annotations

from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from ganforge.metrics.base import MetricInputs, metric


def fid_value(inputs: MetricInputs) -> float:
    """FID of ``inputs`` (computed once per evaluation and shared, e.g. with MiFID)."""
    if "fid" not in inputs.memo:
        fake = fid_features_to_statistics(inputs.fake["pool"])
        real = {"mu": inputs.real.mu, "sigma": inputs.real.sigma}
        inputs.memo["fid"] = fid_statistics_to_metric(fake, real, verbose=False)["frechet_inception_distance"]
    return inputs.memo["fid"]


@metric("fid", keys=("fid",), lower_is_better=("fid",))
def fid(inputs: MetricInputs) -> dict[str, float]:
    """Fréchet distance between Gaussians fitted to generated and real features (lower is better)."""
    return {"fid": fid_value(inputs)}
