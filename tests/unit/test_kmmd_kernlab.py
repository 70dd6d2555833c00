"""KMMD as R kernlab's ``kmmd`` computes it (metric ``kmmd_gauss``, issue 14): the statistics
against a line-by-line numpy transcription of kernlab's ``.submmd`` / ``.submmd3bound`` on the
same arrays and against a hand computation; the mean/median over subsets by hand; the H0
acceptance rate near 1 - alpha for two samples of one distribution and near 0 for shifted ones."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ganforge.metrics import evaluate_features
from ganforge.metrics.base import RealStats
from ganforge.metrics.kmmd_kernlab import (asymptotic_bound, bootstrap_indices, bootstrap_mmd3, kernlab_kmmd, rbf_kernel,
                                           subset_rows, submmd)

pytestmark = pytest.mark.unit


def gaussian(n: int, d: int, shift: float, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, d)) + shift)


def reference_submmd(Kxx: np.ndarray, Kyy: np.ndarray, Kxy: np.ndarray, alpha: float):
    """kernlab's R .submmd, transcribed statement by statement (colSums, one-sided sums)."""
    m, n = len(Kxx), len(Kyy)
    M = min(m, n)
    dgxx, dgyy = np.diag(Kxx), np.diag(Kyy)
    RM = max(dgxx[:M].max(), dgyy[:M].max())
    hu = Kxx[:M, :M].sum(axis=0) - dgxx[:M]
    hu = hu + Kyy[:M, :M].sum(axis=0) - dgyy[:M]
    hu = hu - Kxy[:M, :M].sum(axis=0) - Kxy[:M, :M].T.sum(axis=0) + 2 * np.diag(Kxy[:M, :M])
    mmd1 = math.sqrt(max(0, Kxx.sum() / (m * m) + Kyy.sum() / (n * n) - 2 / m / n * Kxy.sum()))
    mmd3 = hu.sum() / M / (M - 1)
    D1 = 2 * math.sqrt(RM / M) + math.sqrt(math.log(1 / alpha) * 4 * RM / M)
    return mmd1, mmd3, D1


def reference_boot_mmd3(Kxx, Kyy, Kxy, xinds, yinds) -> float:
    """One bootstrap of kernlab's .submmd3bound: the new samples' kernel blocks assembled from
    Kxx / Kxy / Kyy as kernlab does (0-based pooled indices, y offset by m), then their mmd3."""
    m = len(Kxx)
    xind1, xind2 = xinds[xinds < m], xinds[xinds >= m] - m
    yind1, yind2 = yinds[yinds < m], yinds[yinds >= m] - m
    M = len(xinds)
    nKxx = np.block([[Kxx[np.ix_(xind1, xind1)], Kxy[np.ix_(xind1, xind2)]],
                     [Kxy[np.ix_(xind1, xind2)].T, Kyy[np.ix_(xind2, xind2)]]])
    hu = nKxx[:M, :M].sum(axis=0) - np.diag(nKxx)[:M]
    nKyy = np.block([[Kxx[np.ix_(yind1, yind1)], Kxy[np.ix_(yind1, yind2)]],
                     [Kxy[np.ix_(yind1, yind2)].T, Kyy[np.ix_(yind2, yind2)]]])
    hu = hu + nKyy[:M, :M].sum(axis=0) - np.diag(nKyy)[:M]
    nKxy = np.block([[Kxx[np.ix_(yind1, xind1)], Kxy[np.ix_(yind1, xind2)]],
                     [Kxy[np.ix_(xind1, yind2)].T, Kyy[np.ix_(yind2, xind2)]]])
    hu = hu - nKxy[:M, :M].sum(axis=0) - nKxy[:M, :M].T.sum(axis=0) + 2 * np.diag(nKxy)[:M]
    return hu.sum() / M / (M - 1)


def blocks(x: torch.Tensor, y: torch.Tensor, sigma: float):
    kernel = lambda a, b: np.exp(-sigma * ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))  # noqa: E731
    x, y = x.numpy(), y.numpy()
    return kernel(x, x), kernel(y, y), kernel(x, y)


def test_statistics_and_rademacher_bound_equal_kernlabs_submmd_for_unequal_sizes():
    x, y = gaussian(9, 3, 0.0, 1), gaussian(7, 3, 0.4, 2)
    kernel, sigma = rbf_kernel(torch.cat([x, y]))
    got = submmd(kernel, 9, 0.05)
    assert got == pytest.approx(reference_submmd(*blocks(x, y, sigma), 0.05), rel=1e-12)
    squared = torch.cdist(torch.cat([x, y]), torch.cat([x, y])).square()
    assert sigma == pytest.approx(1 / float(squared[~torch.eye(16, dtype=torch.bool)].median()))  # sigest's median


def test_statistics_by_hand_on_two_points_each():
    # k = exp(-ln2 d^2): k(0) = 1, k(1) = 1/2, k(2) = 1/16. x = {0, 1}, y = {0, 2}.
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    result = kernlab_kmmd(x, y, sigma=math.log(2), ntimes=20, alpha=0.1)
    # sums: Kxx 3, Kyy 2.125, Kxy 2.0625 -> mmd1 = sqrt((3 + 2.125 - 4.125) / 4) = 0.5
    assert result.mmd1 == pytest.approx(0.5)
    # off-diagonal Kxx 1 + Kyy 0.125 - 2 * (Kxy 2.0625 - its diagonal pairs (x0,y0) 1 + (x1,y1) 0.5) = 0, / (2 * 1)
    assert result.mmd3 == pytest.approx(0.0, abs=1e-12)
    assert result.rademacher_bound == pytest.approx(2 * math.sqrt(1 / 2) + math.sqrt(math.log(10) * 4 / 2))
    assert not result.rejected  # 0.5 < 3.56


@pytest.mark.parametrize("replace", [True, False])
def test_bootstrap_statistics_equal_kernlabs_block_assembly(replace):
    x, y = gaussian(6, 2, 0.0, 3), gaussian(6, 2, 1.0, 4)
    kernel, sigma = rbf_kernel(torch.cat([x, y]))
    draws = bootstrap_indices(6, 6, 25, 1.0, replace, torch.Generator().manual_seed(5))
    values = bootstrap_mmd3(kernel, *draws)
    expected = [reference_boot_mmd3(*blocks(x, y, sigma), xi.numpy(), yi.numpy()) for xi, yi in zip(*draws)]
    assert values.numpy() == pytest.approx(np.array(expected), rel=1e-10)
    for half in draws:  # each new sample lists its rows drawn from x first, as kernlab's blocks do
        assert all(torch.equal(row, torch.cat([row[row < 6], row[row >= 6]])) for row in half)
    if not replace:  # without replacement and frac 1: every draw is a relabelling of all 12 rows
        assert all(sorted(torch.cat([a, b]).tolist()) == list(range(12)) for a, b in zip(*draws))


def test_asymptotic_bound_lies_between_the_alpha_quantile_and_the_next():
    values = torch.arange(1.0, 21.0)  # 20 bootstraps; alpha 0.1 -> the 2nd and 3rd largest: 19, 18
    assert asymptotic_bound(values[torch.randperm(20)], 0.1) == 18.5
    with pytest.raises(ValueError, match="raise kmmd_gauss_ntimes"):
        asymptotic_bound(values, 0.01)


def kmmd_gauss(fake: torch.Tensor, real: torch.Tensor, seed: int = 3, **options) -> dict[str, float]:
    stats = fid_features_to_statistics(real.float())
    real_stats = RealStats(features=real, mu=stats["mu"], sigma=stats["sigma"])
    return evaluate_features(["kmmd_gauss"], {"pool": fake}, real_stats, seed=seed, options=options)


def test_mean_and_median_over_subsets_by_hand():
    fake, real = gaussian(6, 2, 0.0, 6), gaussian(5, 2, 0.3, 7)
    out = kmmd_gauss(fake, real, seed=11, kmmd_gauss_subset_size=3, kmmd_gauss_repeats=4, kmmd_gauss_ntimes=20,
                     kmmd_gauss_sigma=0.5)
    per_subset = [reference_submmd(*blocks(fake[a], real[b], 0.5), 0.05) for a, b in subset_rows(6, 5, 3, 4, 11)]
    mmd1, mmd3 = [s[0] for s in per_subset], [s[1] for s in per_subset]
    assert out["kmmd_gauss_mmd1_mean"] == pytest.approx(sum(mmd1) / 4)
    assert out["kmmd_gauss_mmd1_median"] == pytest.approx((sorted(mmd1)[1] + sorted(mmd1)[2]) / 2)
    assert out["kmmd_gauss_mmd3_mean"] == pytest.approx(sum(mmd3) / 4)
    assert out["kmmd_gauss_mmd3_median"] == pytest.approx((sorted(mmd3)[1] + sorted(mmd3)[2]) / 2)
    assert len(set(mmd1)) > 1  # the subsets differed


def test_two_samples_of_one_distribution_accept_h0_at_about_the_nominal_rate():
    out = kmmd_gauss(gaussian(1000, 8, 0.0, 8), gaussian(1000, 8, 0.0, 9), kmmd_gauss_subset_size=30,
                     kmmd_gauss_repeats=40, kmmd_gauss_ntimes=40)
    assert 0.85 <= out["kmmd_gauss_accept_rate"] <= 1.0  # nominal 0.95 at alpha = 0.05 (binomial sd 0.035)
    assert out["kmmd_gauss_rad_accept_rate"] == 1.0  # the Rademacher bound is conservative
    assert abs(out["kmmd_gauss_mmd3_mean"]) < 0.01  # the unbiased statistic centres on 0


def test_shifted_samples_reject_h0():
    out = kmmd_gauss(gaussian(1000, 8, 1.0, 10), gaussian(1000, 8, 0.0, 11), kmmd_gauss_subset_size=200,
                     kmmd_gauss_repeats=5, kmmd_gauss_ntimes=40)
    assert out["kmmd_gauss_accept_rate"] == 0.0
    assert out["kmmd_gauss_rad_accept_rate"] == 0.0  # mmd1 above the bound 5.46 / sqrt(200) = 0.39
    assert out["kmmd_gauss_mmd1_mean"] > 0.45 and out["kmmd_gauss_mmd3_mean"] > 0.2
