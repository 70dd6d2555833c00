"""evaluate_generator end to end on digits: all metrics, torch-fidelity agreement, MiFID, bests."""
from __future__ import annotations

import math

import pytest
import torch
from test_metrics_helpers import CopyGenerator, DigitsStandIn, TinyGenerator, digits, classifier_cache, offline, spec_for  # noqa: F401
from torch_fidelity import calculate_metrics

from ganforge.metrics import BestTracker, evaluate_generator
from ganforge.metrics.evaluation import Evaluator, generated_features, planned_keys
from ganforge.metrics.images import to_uint8_rgb
from ganforge.metrics.realdata import subset_indices
from ganforge.sampling import sample_images
from ganforge.noise import derive_seed

pytestmark = pytest.mark.unit
ALL = ["fid", "kid", "is", "prc", "mifid", "kmmd"]
D = "domain-digits."  # the tag every key of the digits classifier carries (spec_for's auto on digits)
FAST = {"kid_subsets": 10, "kid_subset_size": 100, "kmmd_repeats": 3, "kmmd_permutations": 50, "kmmd_subset_size": 100}


def test_every_metric_on_a_generator(offline, digits):
    spec = spec_for(ALL, 200)
    values = evaluate_generator(TinyGenerator(), spec, dataset=digits, options=FAST, best=BestTracker())
    plain = {"fid", "kid_mean", "kid_std", "is_mean", "is_std", "precision", "recall", "f_score", "mifid",
             "mifid_distance", "kmmd", "kmmd_pvalue", "kmmd_accept_rate"}
    directional = {"fid", "kid_mean", "is_mean", "precision", "recall", "f_score", "mifid", "kmmd", "kmmd_accept_rate"}
    assert set(values) == {D + key for key in plain} | {D + key + "_best" for key in directional}
    assert set(planned_keys(spec)) == set(values)  # what Tune's validation expects, before any work
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
    assert 1 <= values[D + "is_mean"] <= 10 and values[D + "fid"] > 0


def test_the_generator_keeps_its_mode(offline, digits):
    generator = TinyGenerator().train()
    evaluate_generator(generator, spec_for(["fid"], 100), dataset=digits)
    assert generator.training


class UInt8Images(torch.utils.data.Dataset):
    """torch-fidelity input: a fixed set of uint8 RGB images."""

    def __init__(self, pixels: torch.Tensor):
        self.pixels = pixels

    def __len__(self):
        return len(self.pixels)

    def __getitem__(self, index):
        return self.pixels[index]


def test_equals_torch_fidelitys_calculate_metrics_on_the_same_images(offline, digits):
    n, seed = 200, 2020
    evaluator = Evaluator.from_spec(spec_for(["fid", "kid", "prc", "is"], n, "domain:digits"), dataset=digits,
                                    seed=seed, options={"kid_subsets": 10, "kid_subset_size": 100})
    ours = evaluator(TinyGenerator())
    generator = TinyGenerator().eval()
    fake = torch.cat([sample_images(generator, 100, seed=derive_seed(seed, "eval", i)) for i in range(2)])
    real = digits.images[subset_indices(len(digits), n)]
    theirs = calculate_metrics(input1=UInt8Images(to_uint8_rgb(fake)), input2=UInt8Images(to_uint8_rgb(real)),
                               feature_extractor="ganforge-domain",
                               feature_extractor_weights_path=str(evaluator.extractor.weights_path),
                               fid=True, kid=True, prc=True, isc=True, kid_subsets=10, kid_subset_size=100,
                               rng_seed=seed, cuda=False, save_cpu_ram=True, cache=False, verbose=False, batch_size=100)
    pairs = {"fid": "frechet_inception_distance", "kid_mean": "kernel_inception_distance_mean",
             "kid_std": "kernel_inception_distance_std", "is_mean": "inception_score_mean",
             "is_std": "inception_score_std", "precision": "precision", "recall": "recall"}
    for key, their_key in pairs.items():
        assert ours[D + key] == pytest.approx(theirs[their_key], rel=1e-5, abs=1e-9), key


def test_a_generator_that_copies_training_images_is_penalised_by_mifid(offline):
    # The memorisation distance is measured against the n real images of the evaluation; with
    # n >= the data set's size that is every training image.
    training = DigitsStandIn(300)
    spec = spec_for(["fid", "mifid"], 300)
    copier = evaluate_generator(CopyGenerator(training.images), spec, dataset=training)
    honest = evaluate_generator(TinyGenerator(), spec, dataset=training)
    assert copier[D + "mifid_distance"] < 0.01 and copier[D + "mifid"] > 100 * copier[D + "fid"]
    assert honest[D + "mifid_distance"] >= 0.1 and honest[D + "mifid"] == pytest.approx(honest[D + "fid"])


def test_best_tracker_keeps_the_best_in_each_direction(offline):
    best = BestTracker()
    assert best.update({"fid": 10.0, "is_mean": 2.0, "is_std": 0.1}) == {"fid_best": 10.0, "is_mean_best": 2.0}
    assert best.update({"fid": 12.0, "is_mean": 3.0}) == {"fid_best": 10.0, "is_mean_best": 3.0}
    assert BestTracker({"fid": 5.0}).update({"fid": 7.0}) == {"fid_best": 5.0}


def test_best_tracker_reads_the_direction_of_a_tagged_key_from_its_plain_key(offline):
    best = BestTracker({D + "fid": 5.0})
    assert best.update({D + "fid": 7.0, D + "is_mean": 2.0}) == {D + "fid_best": 5.0, D + "is_mean_best": 2.0}
    assert best.update({D + "fid": 4.0, D + "is_mean": 1.0, "fid": 9.0}) == {
        D + "fid_best": 4.0, D + "is_mean_best": 2.0, "fid_best": 9.0}


def test_evaluate_generator_adds_bests_when_given_a_tracker(offline, digits):
    best = BestTracker({D + "fid": 1e-9})
    values = evaluate_generator(TinyGenerator(), spec_for(["fid"], 100), dataset=digits, best=best)
    assert values[D + "fid_best"] == 1e-9 and values[D + "fid"] > 1e-9


def test_generated_features_stream_in_batches(offline, digits):
    extractor = Evaluator.from_spec(spec_for(["fid"], 10, "domain:digits"), dataset=digits).extractor
    calls = extractor.calls
    out = generated_features(TinyGenerator(), extractor, 250, batch_size=100)
    assert extractor.calls - calls == 3 and out["pool"].shape == (250, 128) and out["logits"].shape == (250, 10)
