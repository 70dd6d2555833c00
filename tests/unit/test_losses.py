import pytest
import torch
import torch.nn.functional as F

from ganforge.config import LossSpec
from ganforge.losses import LOSSES, build_loss
from ganforge.losses.regularizers import DContext, GradientPenalty, R1, WeightClip
from ganforge.noise import BatchRandom

pytestmark = pytest.mark.unit

GOOD_D = (torch.tensor([5.0, 5.0]), torch.tensor([-5.0, -5.0]))  # confident and right
BAD_D = (torch.tensor([-5.0, -5.0]), torch.tensor([5.0, 5.0]))  # confident and wrong


@pytest.mark.parametrize("name", ["minimax", "non-saturating", "lsgan", "hinge", "wgan", "wgan-gp"])
def test_d_loss_lower_when_d_is_right(name):
    loss = LOSSES.get(name)()
    assert loss.d_loss(*GOOD_D) < loss.d_loss(*BAD_D)


@pytest.mark.parametrize("name", ["minimax", "non-saturating", "lsgan", "hinge", "wgan", "wgan-gp"])
def test_g_loss_lower_when_fakes_fool_d(name):
    loss = LOSSES.get(name)()
    assert loss.g_loss(torch.tensor([5.0])) < loss.g_loss(torch.tensor([-5.0]))


def test_hand_values():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    assert LOSSES.get("hinge")().d_loss(real, fake) == pytest.approx(((0 + 2) / 2) + ((1.5 + 0) / 2))
    assert LOSSES.get("lsgan")().d_loss(real, fake) == pytest.approx(0.5 * (1 + 4) / 2 + 0.5 * (0.25 + 9) / 2)
    assert LOSSES.get("wgan")().d_loss(real, fake) == pytest.approx(-1.25 - 0.5)
    ns = LOSSES.get("non-saturating")()
    assert ns.g_loss(fake) == pytest.approx(F.softplus(-fake).mean().item())
    assert LOSSES.get("minimax")().g_loss(fake) == pytest.approx(torch.log(1 - torch.sigmoid(fake)).mean().item())


def test_minimax_saturates_where_non_saturating_does_not():
    fake = torch.tensor([-8.0], requires_grad=True)  # D confidently rejects the fake
    (g_mm,) = torch.autograd.grad(LOSSES.get("minimax")().g_loss(fake), fake)
    (g_ns,) = torch.autograd.grad(LOSSES.get("non-saturating")().g_loss(fake), fake)
    assert g_mm.abs() < 1e-3 < g_ns.abs()


class Linear(torch.nn.Module):
    """D(x) = sum(w * x): its input gradient is w for every sample."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, y=None):
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_against_hand_computation():
    w = torch.tensor([[[[3.0, 4.0]]]])  # ||grad|| = 5 everywhere
    D = Linear(w)
    real, fake = torch.randn(4, 1, 1, 2), torch.randn(4, 1, 1, 2)
    ctx = DContext(D, real, fake, None, None, None, BatchRandom(0, 0, "gp"))
    assert GradientPenalty(10.0).d_term(ctx).item() == pytest.approx(10 * (5 - 1) ** 2)
    assert R1(2.0).d_term(ctx).item() == pytest.approx(0.5 * 2 * 25)
    # the penalty is differentiable in D's weights: d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||
    (grad,) = torch.autograd.grad(GradientPenalty(10.0).d_term(ctx), D.w)
    assert torch.allclose(grad, 20 * 4 * w / 5)


def test_weight_clip_and_builtins():
    D = Linear(torch.tensor([[[[3.0, -0.001]]]]))
    WeightClip(clip=0.01).after_d_step(D)
    assert D.w.abs().max() <= 0.01
    loss, regs = build_loss(LossSpec(name="wgan-gp", regularizers=[{"name": "r1", "weight": 0.5}]))
    assert [r.name for r in regs] == ["gradient-penalty", "r1"] and regs[0].weight == 10
