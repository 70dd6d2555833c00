"""The unpaired task's pieces around the step (tasks/unpaired.py, metrics/unpaired.py, the pyfunc):
FID both ways beside the "did nothing" baseline (a model that returns its input scores exactly
the baseline, one that does the translation scores far below it), cycle L1, the planned keys, the
A -> B -> A / B -> A -> B sample grid, and the pyfunc's direction parameter."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganforge.config import ExperimentSpec

pytestmark = pytest.mark.unit

SPEC = {"data": {"name": "digits-inverted", "resolution": 16},
        "model": {"name": "cyclegan", "options": {"ngf": 2, "ndf": 2, "n_blocks": 1, "n_layers_d": 1}},
        "eval": {"every": 1, "n": 64, "batch_size": 32}}


class Fixed(nn.Module):
    """A translator pair given as two functions (``forward(x, direction)``)."""

    def __init__(self, a2b, b2a):
        super().__init__()
        self.ways = {"a2b": a2b, "b2a": b2a}

    def forward(self, x, direction="a2b"):
        return self.ways[direction](x)


@pytest.fixture(scope="module")
def held_out():
    from ganforge.tasks.unpaired import held_out_domains

    return held_out_domains(ExperimentSpec(**SPEC), 64)


def test_doing_nothing_scores_the_baseline_and_translating_beats_it(held_out):
    from ganforge.metrics.unpaired import evaluate_unpaired

    a, b = held_out
    nothing = evaluate_unpaired(Fixed(lambda x: x, lambda x: x), a, b, ["fid", "cycle_l1"], extractor="domain:digits")
    tag = "domain-digits."
    for way in ("a2b", "b2a"):
        assert nothing[f"{tag}fid_{way}"] == pytest.approx(nothing[f"baseline.{tag}fid_{way}"], rel=1e-9)
    assert nothing["cycle_l1"] == 0.0
    inverting = evaluate_unpaired(Fixed(torch.neg, torch.neg), a, b, ["fid", "cycle_l1"], extractor="domain:digits")
    for way in ("a2b", "b2a"):  # B is A's digits inverted: the true translation
        assert inverting[f"{tag}fid_{way}"] < 0.3 * inverting[f"baseline.{tag}fid_{way}"], inverting
    assert inverting["cycle_l1"] == pytest.approx(0.0, abs=1e-6)
    shifted = evaluate_unpaired(Fixed(lambda x: (x + 0.5).clamp(-1, 1), lambda x: x), a, b, ["cycle_l1"])
    by_hand = float(((a + 0.5).clamp(-1, 1) - a).abs().mean())  # on the 8-bit grid: within half a level
    assert shifted["cycle_l1_a"] == pytest.approx(by_hand, abs=1 / 127.5) and "cycle_l1" in shifted


def test_planned_keys_are_the_keys_periodic_evaluation_reports(held_out):
    from ganforge.metrics import BestTracker
    from ganforge.tasks import task_of

    spec = ExperimentSpec(**SPEC)
    task = task_of(spec)
    dataset_meta = {"shape_a": [1, 16, 16], "shape_b": [1, 16, 16]}
    evaluate = task.build_evaluator(spec, "cpu")
    best = BestTracker()
    values = evaluate(task.build_generator(spec, dataset_meta), best)
    assert sorted(task.planned_keys(spec)) == sorted(k for k in values if not k.endswith("_best"))
    assert values["domain-digits.fid_a2b_best"] == values["domain-digits.fid_a2b"]
    assert "baseline.domain-digits.fid_a2b_best" not in values  # a baseline does not train


def test_the_grid_shows_a_to_b_to_a_then_b_to_a_to_b():
    from ganforge.tasks import task_of

    spec = ExperimentSpec(**SPEC)
    task = task_of(spec)
    a, b = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16) * -1
    images, per_row = task.sample_grid(Fixed(lambda x: x * 0.5, lambda x: x + 1), (a, b))
    assert per_row == 3 and images.shape == (24, 3, 16, 16)
    first, last = images[:3, :1], images[21:, :1]
    assert torch.equal(first[0], a[0]) and torch.equal(first[1], a[0] * 0.5) and torch.equal(first[2], a[0] * 0.5 + 1)
    assert torch.equal(last[0], b[3]) and torch.equal(last[1], b[3] + 1) and torch.equal(last[2], (b[3] + 1) * 0.5)


def test_the_pyfunc_translates_the_direction_its_params_name():
    from ganforge.models.cyclegan import CycleGANOptions, CycleGenerator
    from ganforge.pyfunc import GeneratorModel, io_of

    torch.manual_seed(0)
    model = GeneratorModel()
    model.generator = CycleGenerator((1, 8, 8), (3, 8, 8), CycleGANOptions(ngf=2, n_blocks=1)).eval()
    a, b = np.zeros((2, 1, 8, 8), np.float32), np.zeros((2, 3, 8, 8), np.float32)
    with torch.no_grad():
        want_b, want_a = model.generator(torch.from_numpy(a)).numpy(), model.generator(torch.from_numpy(b), "b2a").numpy()
    assert np.array_equal(model.predict(None, a), want_b)
    assert np.array_equal(model.predict(None, b, {"direction": "b2a"}), want_a)
    with pytest.raises(ValueError, match=r"b2a input shape"):
        model.predict(None, a, {"direction": "b2a"})
    with pytest.raises(ValueError, match="a2b, b2a"):
        model.predict(None, a, {"direction": "up"})
    signature = io_of(model.generator).signature(model.generator)
    assert [p.name for p in signature.params.params] == ["direction"]
    assert io_of(model.generator).describe(model.generator)["directions"] == ["a2b", "b2a"]
