"""Inception Score limits and the KMMD two-sample test's behaviour."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ganforge.metrics import evaluate_features
from ganforge.metrics.base import RealStats
from ganforge.metrics.kmmd import mmd2_unbiased_labelings, mmd_permutation_test

pytestmark = pytest.mark.unit


def test_inception_score_of_uniform_predictions_is_one():
    out = evaluate_features(["is"], {"logits": torch.zeros(200, 7)}, options={"is_splits": 4})
    assert out["is_mean"] == pytest.approx(1.0, abs=1e-9)
    assert out["is_std"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_inception_score_of_confident_balanced_predictions_is_the_class_count(k):
    labels = torch.arange(30 * k) % k
    logits = 60.0 * torch.nn.functional.one_hot(labels, k).double()  # softmax ~ one-hot
    out = evaluate_features(["is"], {"logits": logits}, options={"is_splits": 1})
    assert out["is_mean"] == pytest.approx(k, rel=1e-6)


def test_is_needs_no_real_data_but_fid_does():
    with pytest.raises(ValueError, match="real statistics"):
        evaluate_features(["fid"], {"pool": torch.zeros(10, 3)})


def gaussian(n: int, d: int, shift: float, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d)) + shift)


def direct_mmd2(x: torch.Tensor, y: torch.Tensor, sigma: float) -> float:
    """Unbiased Gaussian-kernel MMD^2 written out from its definition."""
    k = lambda a, b: torch.exp(-torch.cdist(a, b).square() / (2 * sigma**2))  # noqa: E731
    m, n = len(x), len(y)
    k_xx, k_yy = k(x, x), k(y, y)
    return float((k_xx.sum() - k_xx.trace()) / (m * (m - 1)) + (k_yy.sum() - k_yy.trace()) / (n * (n - 1))
                 - 2 * k(x, y).mean())


def test_vectorised_statistic_equals_the_definition_for_unequal_sizes():
    x, y = gaussian(23, 4, 0.0, 1), gaussian(31, 4, 0.5, 2)
    z = torch.cat([x, y])
    kernel = torch.exp(-torch.cdist(z, z).square() / (2 * 1.7**2))
    labels = torch.cat([torch.ones(23), torch.zeros(31)]).double()[None]
    assert float(mmd2_unbiased_labelings(kernel, labels, 23, 31)[0]) == pytest.approx(direct_mmd2(x, y, 1.7), rel=1e-10)
    statistic, p_value = mmd_permutation_test(x, y, 1.7, permutations=99)
    assert statistic == pytest.approx(direct_mmd2(x, y, 1.7), rel=1e-10)
    assert 0 < p_value <= 1


def kmmd(fake: torch.Tensor, real: torch.Tensor, **options) -> dict[str, float]:
    stats = fid_features_to_statistics(real)
    real_stats = RealStats(features=real, mu=stats["mu"], sigma=stats["sigma"])
    return evaluate_features(["kmmd"], {"pool": fake}, real_stats, seed=3, options=options)


def test_same_distribution_accepts_h0_at_about_the_nominal_rate():
    out = kmmd(gaussian(4000, 8, 0.0, 4), gaussian(4000, 8, 0.0, 5), kmmd_subset_size=100, kmmd_repeats=40,
               kmmd_permutations=100)
    assert 0.85 <= out["kmmd_accept_rate"] <= 1.0  # nominal 0.95 at alpha = 0.05
    assert out["kmmd_pvalue"] > 0.2


def test_shifted_distribution_rejects_h0():
    out = kmmd(gaussian(4000, 8, 0.6, 6), gaussian(4000, 8, 0.0, 7), kmmd_subset_size=100, kmmd_repeats=20,
               kmmd_permutations=100)
    assert out["kmmd_accept_rate"] <= 0.05
    assert out["kmmd_pvalue"] <= 0.02 and out["kmmd"] > 0
