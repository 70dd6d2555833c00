"""RealnessGAN: anchors, KL by hand, D loss minimal at the anchors, G objectives."""
import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.losses import LOSSES
from ganforge.losses.realness import anchors, kl
from ganforge.models import build_models
from ganforge.models.realnessgan import RealnessDOutput

pytestmark = pytest.mark.unit


def out(log_probs):
    return RealnessDOutput(torch.zeros(log_probs.shape[0]), log_probs)


@pytest.mark.parametrize("kind", ["gauss-uniform", "skewed"])
@pytest.mark.parametrize("n", [3, 10, 51])
def test_anchors_are_distinct_distributions(kind, n):
    a0, a1 = anchors(kind, n)
    assert a0.shape == a1.shape == (n,)
    assert a0.sum() == pytest.approx(1) and a1.sum() == pytest.approx(1) and (a0 >= 0).all()
    assert not torch.allclose(a0, a1)


def test_anchor_shapes():
    a0, a1 = anchors("gauss-uniform", 10)
    assert torch.allclose(a1, torch.full((10,), 0.1)) and a0.argmax() in (4, 5) and a0[0] < 0.01
    s0, s1 = anchors("skewed", 5)
    assert s0.argmax() == 0 and s1.argmax() == 4 and torch.allclose(s0, s1.flip(0), atol=1e-6)


def test_kl_by_hand():
    p = torch.tensor([0.5, 0.5])
    q = torch.tensor([[0.25, 0.75]])
    expected = 0.5 * torch.log(torch.tensor(2.0)) + 0.5 * torch.log(torch.tensor(0.5 / 0.75))
    assert kl(p, q.log()).item() == pytest.approx(expected.item())


def test_d_loss_is_zero_exactly_at_the_anchors():
    loss = LOSSES.get("realness")()
    a0, a1 = anchors("gauss-uniform", 6)
    assert loss.d_loss(out(a1.log()[None].repeat(3, 1)), out(a0.log()[None].repeat(3, 1))) == pytest.approx(0, abs=1e-6)
    swapped = loss.d_loss(out(a0.log()[None]), out(a1.log()[None]))
    assert swapped > 0.1


@pytest.mark.parametrize("objective", ["relative", "anchor"])
def test_g_loss_lower_when_fakes_look_real(objective):
    loss = LOSSES.get("realness")(anchors="skewed", g_objective=objective)
    a0, a1 = anchors("skewed", 6)
    real = out(a1.log()[None])
    assert loss.g_loss(out(a1.log()[None]), real) < loss.g_loss(out(a0.log()[None]), real)
    assert loss.uses_real_in_g == (objective == "relative")


def test_realness_discriminator_outputs_a_distribution():
    G, D = build_models(ModelSpec(name="realnessgan", z_dim=8, options={"ngf": 4, "ndf": 4, "num_outcomes": 7}), (1, 16, 16), 0)
    result = D(G(torch.randn(3, 8)))
    assert result.outcome_logits.shape == (3, 7) and result.logits.abs().max() <= 1
    with pytest.raises(ValueError, match="realnessgan"):
        LOSSES.get("realness")().d_loss(torch.zeros(2), torch.zeros(2))
