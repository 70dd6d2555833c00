"""Shared stand-ins and fixtures for the metrics tests (imported by test_metrics_*.py; no tests here).

The metrics are tested against the data/generator contracts, not against ganforge.data or a
trained model: a digits stand-in (scikit-learn's 8x8 digits upsampled to 32x32 in [-1, 1], the
same data ganforge's ``digits`` serves), a tiny generator, and a generator that copies training
images. The domain classifier is trained once per session into a shared cache directory.
"""
from __future__ import annotations

import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.config import ExperimentSpec
from ganforge.metrics import realdata
from ganforge.metrics.domain_classifier import ensure_classifier
from ganforge.metrics.extractor import forget_loaded_extractors
from ganforge.metrics.real_stats import forget_in_memory

pytestmark = pytest.mark.unit
DIGITS_DATA = {"name": "digits", "stand-in": "sklearn"}


class DigitsStandIn(torch.utils.data.Dataset):
    """scikit-learn digits as ganforge's data contract: (float [1, 32, 32] in [-1, 1], label)."""

    def __init__(self, limit: int | None = None, labelled: bool = True):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16 * 2 - 1
        self.images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)[:limit]
        self.labels = torch.tensor(digits.target)[:limit]
        self.num_classes = 10 if labelled else 0
        self.img_shape = (1, 32, 32)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index], int(self.labels[index])


class TinyGenerator(nn.Module):
    """G(z) = tanh(linear(z)) as [1, 32, 32] images: a valid, untrained generator."""

    def __init__(self, z_dim: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.num_classes, self.img_shape = z_dim, 0, (1, 32, 32)
        self.net = nn.Linear(z_dim, 32 * 32)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, *self.img_shape)


class CopyGenerator(nn.Module):
    """Returns training images chosen by the latent: a generator that memorised its data."""

    def __init__(self, bank: torch.Tensor):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = 8, 0, tuple(bank.shape[1:])
        self.register_buffer("bank", bank)
        self.anchor = nn.Parameter(torch.zeros(()))  # sampling reads the device from a parameter

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        index = (z[:, 0].abs() * 1e6).long() % len(self.bank)
        return self.bank[index]


def spec_for(metrics: list[str], n: int, extractor: str = "auto", batch_size: int = 100) -> ExperimentSpec:
    """A default spec (data: digits) with the given eval section."""
    return ExperimentSpec(eval={"metrics": metrics, "n": n, "extractor": extractor, "batch_size": batch_size})


# Session fixtures imported into several test modules are set up once per module; this memo
# makes the (seconds-long) classifier training happen once per session all the same.
_SESSION: dict[str, object] = {}


@pytest.fixture(scope="session")
def digits() -> DigitsStandIn:
    if "digits" not in _SESSION:
        _SESSION["digits"] = DigitsStandIn()
    return _SESSION["digits"]


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory, digits):
    """A cache root holding the digits domain classifier, trained once for the session."""
    if "cache" not in _SESSION:
        root = tmp_path_factory.mktemp("ganforge-cache")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GANFORGE_CACHE_DIR", str(root))
            ensure_classifier("digits", dataset=digits, data=DIGITS_DATA)
        _SESSION["cache"] = root
    return _SESSION["cache"]


@pytest.fixture
def offline(tmp_path, monkeypatch, digits, classifier_cache):
    """A fresh cache dir (sharing the session's classifier), digits stand-in as every data set,
    no torch-fidelity Inception weights, and empty in-process memos."""
    root = tmp_path / "cache"
    root.mkdir()
    os.symlink(classifier_cache / "extractors", root / "extractors")
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(root))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setattr(realdata, "build_real_dataset", lambda spec: digits)
    monkeypatch.setattr(realdata, "canonical_dataset", lambda name, base=None: (digits, DIGITS_DATA))
    forget_in_memory()
    forget_loaded_extractors()
    yield root
    forget_in_memory()
