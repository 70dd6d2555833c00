"""FID and KID on fixed features equal independent NumPy/SciPy computations; FID(X, X) = 0."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ganforge.metrics import evaluate_features
from ganforge.metrics.base import RealStats

pytestmark = pytest.mark.unit


def features(n: int, d: int, shift: float, seed: int) -> torch.Tensor:
    """n correlated Gaussian samples (one fixed covariance per d), mean ``shift``."""
    mixing = np.random.default_rng(d).normal(size=(d, d)) / np.sqrt(d)
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d)) @ mixing + shift)


def real_stats(x: torch.Tensor) -> RealStats:
    stats = fid_features_to_statistics(x)
    return RealStats(features=x, mu=stats["mu"], sigma=stats["sigma"])


def scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    """FID the textbook way: means, covariances, scipy.linalg.sqrtm."""
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s_x @ s_y).real
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(s_x + s_y - 2 * root))


def numpy_kid(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel over the full samples."""
    d, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    k_xx, k_yy, k_xy = k(x, x), k(y, y), k(x, y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def test_fid_equals_scipy_computation():
    fake, real = features(400, 12, 0.3, seed=1), features(500, 12, 0.0, seed=2)
    ours = evaluate_features(["fid"], {"pool": fake}, real_stats(real))["fid"]
    expected = scipy_fid(fake.numpy(), real.numpy())
    assert ours == pytest.approx(expected, rel=1e-6)
    assert ours > 0.05


def test_fid_of_a_set_against_itself_is_zero():
    x = features(300, 10, 0.0, seed=3)
    assert abs(evaluate_features(["fid"], {"pool": x}, real_stats(x))["fid"]) < 1e-8


def test_kid_equals_numpy_computation_when_subsets_are_the_whole_sample():
    # A subset as large as the sample is a permutation of it, and unbiased MMD^2 is
    # permutation-invariant: every subset gives the full-sample value, so the std is ~0.
    fake, real = features(300, 16, 0.2, seed=4), features(300, 16, 0.0, seed=5)
    out = evaluate_features(["kid"], {"pool": fake}, real_stats(real), options={"kid_subsets": 5, "kid_subset_size": 300})
    expected = numpy_kid(fake.numpy(), real.numpy())
    assert out["kid_mean"] == pytest.approx(expected, rel=1e-6)
    assert out["kid_std"] < 1e-9 * max(1.0, abs(expected))


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    real = features(600, 8, 0.0, seed=6)
    same = evaluate_features(["kid"], {"pool": features(600, 8, 0.0, seed=7)}, real_stats(real),
                             options={"kid_subsets": 20, "kid_subset_size": 200})
    shifted = evaluate_features(["kid"], {"pool": features(600, 8, 1.0, seed=8)}, real_stats(real),
                                options={"kid_subsets": 20, "kid_subset_size": 200})
    assert abs(same["kid_mean"]) < 3 * same["kid_std"] + 1e-3
    assert shifted["kid_mean"] > 10 * abs(same["kid_mean"]) and shifted["kid_mean"] > 0.1


def test_unknown_metric_and_option_names_list_the_valid_ones():
    x = features(50, 4, 0.0, seed=9)
    with pytest.raises(KeyError, match="valid: fid, is, kid"):
        evaluate_features(["fdi"], {"pool": x}, real_stats(x))
    with pytest.raises(ValueError, match="kid_subset_size, kid_subsets"):
        evaluate_features(["kid"], {"pool": x}, real_stats(x), options={"kid_subset": 3})
