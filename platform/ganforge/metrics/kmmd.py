"""Kernel MMD two-sample test (Gretton et al. 2012) between generated and real features.

A Gaussian kernel k(x, y) = exp(-|x - y|^2 / (2 sigma^2)) with sigma the median pairwise distance
(unless ``kmmd_sigma`` is given); the statistic is the unbiased MMD^2 and its p-value comes from
a permutation test. Repeated on ``kmmd_repeats`` random subsets: ``kmmd`` (mean MMD^2, lower is
better), ``kmmd_pvalue`` (median p) and ``kmmd_accept_rate`` (fraction of subsets where H0 "same
distribution" is accepted at ``kmmd_alpha``; about 1 - alpha when the generator matches the data,
higher is better). The BigGAN-vs-SNGAN small-data report's figures are R kernlab's ``kmmd``
(first- and third-order statistics, Rademacher and asymptotic bounds): metric ``kmmd_gauss``,
metrics/kmmd_kernlab.py.
"""
from __future__ import annotations

import torch

from ganforge.metrics.base import MetricInputs, metric


def median_bandwidth(z: torch.Tensor) -> float:
    """Median of the pairwise Euclidean distances between distinct rows of ``z``."""
    distances = torch.cdist(z, z)
    off_diagonal = distances[~torch.eye(len(z), dtype=torch.bool)]
    return float(off_diagonal.median().clamp_min(1e-12))


def _labelings(n_x: int, n_y: int, permutations: int, generator: torch.Generator) -> torch.Tensor:
    """Row 0: the observed split (first n_x are X); then ``permutations`` random relabelings."""
    observed = torch.cat([torch.ones(n_x), torch.zeros(n_y)])
    order = torch.rand(permutations, n_x + n_y, generator=generator).argsort(dim=1)
    shuffled = observed[order]
    return torch.cat([observed[None], shuffled]).double()


def mmd2_unbiased_labelings(kernel: torch.Tensor, labelings: torch.Tensor, n_x: int, n_y: int) -> torch.Tensor:
    """Unbiased MMD^2 for every 0/1 row of ``labelings`` (1 = sample X), from one kernel matrix.

    Block sums are quadratic forms of the indicator s: Kxx = s'Ks, Kxy = s'K1 - Kxx,
    Kyy = 1'K1 - 2 Kxy - Kxx; the Gaussian kernel's diagonal is 1, so the unbiased estimator
    subtracts n_x and n_y from the within-sample sums.
    """
    row_sums = kernel.sum(dim=1)
    s_xx = (labelings * (labelings @ kernel)).sum(dim=1)
    s_xy = labelings @ row_sums - s_xx
    s_yy = row_sums.sum() - 2 * s_xy - s_xx
    return (s_xx - n_x) / (n_x * (n_x - 1)) + (s_yy - n_y) / (n_y * (n_y - 1)) - 2 * s_xy / (n_x * n_y)


def mmd_permutation_test(x: torch.Tensor, y: torch.Tensor, sigma: float, permutations: int = 200,
                         generator: torch.Generator | None = None) -> tuple[float, float]:
    """(unbiased MMD^2, permutation p-value) of samples ``x`` [n, d] and ``y`` [m, d]."""
    z = torch.cat([x, y]).double()
    kernel = torch.exp(-torch.cdist(z, z).square() / (2 * sigma**2))
    labelings = _labelings(len(x), len(y), permutations, generator or torch.Generator().manual_seed(0))
    stats = mmd2_unbiased_labelings(kernel, labelings, len(x), len(y))
    p_value = (1 + int((stats[1:] >= stats[0]).sum())) / (1 + permutations)
    return float(stats[0]), p_value


def _subset(features: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    return features[torch.randperm(len(features), generator=generator)[:size]]


@metric("kmmd", options={"kmmd_subset_size": 500, "kmmd_repeats": 10, "kmmd_permutations": 200,
                         "kmmd_alpha": 0.05, "kmmd_sigma": None},
        keys=("kmmd", "kmmd_pvalue", "kmmd_accept_rate"), lower_is_better=("kmmd",),
        higher_is_better=("kmmd_accept_rate",))
def kmmd(inputs: MetricInputs) -> dict[str, float]:
    """Gaussian-kernel MMD^2 permutation test over subsets: kmmd, kmmd_pvalue, kmmd_accept_rate."""
    fake, real = inputs.fake["pool"].double(), inputs.real.features.double()
    size = min(inputs.option("kmmd_subset_size"), len(fake), len(real))
    generator = torch.Generator().manual_seed(inputs.seed)
    sigma = inputs.option("kmmd_sigma") or median_bandwidth(torch.cat([_subset(fake, size, generator),
                                                                      _subset(real, size, generator)]))
    results = [mmd_permutation_test(_subset(fake, size, generator), _subset(real, size, generator), sigma,
                                    inputs.option("kmmd_permutations"), generator)
               for _ in range(inputs.option("kmmd_repeats"))]
    stats, p_values = torch.tensor(results, dtype=torch.float64).T
    return {"kmmd": float(stats.mean()), "kmmd_pvalue": float(p_values.quantile(0.5)),
            "kmmd_accept_rate": float((p_values > inputs.option("kmmd_alpha")).double().mean())}
