"""The paired step alone (tasks/paired_step.py), on a toy translator and discriminator: what it
updates, the terms it logs against hand computations, and a term of weight 0 left out."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.losses import LOSSES
from ganforge.tasks.paired_step import PairedConfig, PairedStep
from ganforge.train.step import GanModules

pytestmark = pytest.mark.unit


class ToyG(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x))


class ToyD(nn.Module):
    """Sees cat(input, image), as pix2pix's D does; a 4x4 map of logits."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 4, stride=2, padding=1))

    def forward(self, x, y):
        return self.net(torch.cat([x, y], 1))


class Features(nn.Module):
    def forward(self, x):
        return F.avg_pool2d(x, 2)


def modules(lr: float = 0.1, lr_g: float | None = None) -> GanModules:
    torch.manual_seed(0)
    G, D = ToyG(), ToyD()
    opt_g = torch.optim.SGD(G.parameters(), lr=lr if lr_g is None else lr_g)
    opt_d = torch.optim.SGD(D.parameters(), lr=lr)
    const = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)  # noqa: E731
    return GanModules(G, D, None, opt_g, opt_d, const(opt_g), const(opt_d))


def pairs(n: int = 4):
    generator = torch.Generator().manual_seed(1)
    source = torch.rand(n, 1, 8, 8, generator=generator) * 2 - 1
    return source, -source  # the target: the input's negative


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_one_step_updates_g_and_d_and_logs_finite_terms():
    m = modules()
    g_before, d_before = params(m.G), params(m.D)
    step = PairedStep(m, LOSSES.get("non-saturating")(), PairedConfig({"adversarial": 1.0, "l1": 100.0}))
    metrics = step([pairs()], 0)
    assert set(metrics) == {"d_loss", "g_loss", "g_l1"}
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(not torch.equal(a, b) for a, b in zip(g_before, params(m.G)))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, params(m.D)))


def test_terms_are_the_weighted_losses_computed_by_hand():
    m = modules()
    source, target = pairs()
    with torch.no_grad():
        fake = m.G(source)
        content = F.mse_loss(Features()(fake), Features()(target))
    step = PairedStep(m, LOSSES.get("lsgan")(), PairedConfig({"adversarial": 0.0, "l1": 3.0, "mse": 2.0, "content": 0.5}),
                      content_network=Features())
    metrics = step([(source, target)], 0)
    assert metrics["g_l1"] == pytest.approx(3.0 * float((fake - target).abs().mean()), rel=1e-6)
    assert metrics["g_mse"] == pytest.approx(2.0 * float(((fake - target) ** 2).mean()), rel=1e-6)
    assert metrics["g_content"] == pytest.approx(0.5 * float(content), rel=1e-6)


def test_without_an_adversarial_term_d_is_never_updated():
    """SRResNet's MSE training: no D update, no d_loss."""
    m = modules()
    d_before = params(m.D)
    metrics = PairedStep(m, LOSSES.get("non-saturating")(), PairedConfig({"adversarial": 0.0, "mse": 1.0}))([pairs()], 0)
    assert set(metrics) == {"g_mse"}
    assert all(torch.equal(a, b) for a, b in zip(d_before, params(m.D)))


def test_d_learns_to_tell_real_pairs_from_translated_ones():
    """With G frozen (lr 0), D's loss falls: it is trained on (input, target) against (input, G(input))."""
    m = modules(lr_g=0.0)
    step = PairedStep(m, LOSSES.get("non-saturating")(), PairedConfig({"adversarial": 1.0}))
    losses = [step([pairs()], t)["d_loss"] for t in range(120)]
    assert losses[-1] < 0.5 * losses[0], losses[::20]


def test_a_content_weight_without_a_network_is_refused():
    with pytest.raises(ValueError, match="content network"):
        PairedStep(modules(), LOSSES.get("non-saturating")(), PairedConfig({"content": 1.0}))
