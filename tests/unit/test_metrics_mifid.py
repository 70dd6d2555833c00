"""MiFID (features level): copying training features is penalised, fresh samples are not."""
from __future__ import annotations

import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ganforge.metrics import evaluate_features
from ganforge.metrics.base import RealStats
from ganforge.metrics.mifid import memorization_distance

pytestmark = pytest.mark.unit


def real_stats(x: torch.Tensor) -> RealStats:
    stats = fid_features_to_statistics(x)
    return RealStats(features=x, mu=stats["mu"], sigma=stats["sigma"])


def relu_features(n: int, seed: int) -> torch.Tensor:
    """Non-negative features like Inception's pool3 or the domain classifier's."""
    return torch.randn(n, 32, generator=torch.Generator().manual_seed(seed)).double().relu()


def test_memorization_distance_is_zero_for_copies_and_uses_abs_cosine():
    real = relu_features(200, 0)
    assert memorization_distance(real[:50], real) == pytest.approx(0.0, abs=1e-12)
    assert memorization_distance(-real[:50], real) == pytest.approx(0.0, abs=1e-12)  # Kaggle's |cos|


def test_copying_generator_is_penalised():
    real = relu_features(500, 1)
    copies = real[torch.randint(0, 500, (400,), generator=torch.Generator().manual_seed(2))]
    noisy_copies = copies + 1e-3 * torch.randn(copies.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    out = evaluate_features(["fid", "mifid"], {"pool": noisy_copies}, real_stats(real))
    assert out["mifid_distance"] < 0.1
    assert out["mifid"] > 1000 * out["fid"]


def test_fresh_samples_are_not_penalised():
    out = evaluate_features(["fid", "mifid"], {"pool": relu_features(400, 4)}, real_stats(relu_features(500, 5)))
    assert out["mifid_distance"] >= 0.1
    assert out["mifid"] == pytest.approx(out["fid"], rel=1e-12)


def test_threshold_is_an_option():
    out = evaluate_features(["fid", "mifid"], {"pool": relu_features(400, 4)}, real_stats(relu_features(500, 5)),
                            options={"mifid_eps": 0.99})
    assert out["mifid"] == pytest.approx(out["fid"] / out["mifid_distance"], rel=1e-9)
