"""RaSGAN / RaLSGAN against hand computations of Jolicoeur-Martineau (2018), Eq. 9-12."""
import pytest
import torch
import torch.nn.functional as F

from ganforge.config import ExperimentSpec
from ganforge.losses import LOSSES, build_loss

pytestmark = pytest.mark.unit

REAL, FAKE = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])  # means 1 and 0


def test_ralsgan_hand_values():
    loss = LOSSES.get("ralsgan")()
    # D: real - E[fake] = [2, 0]; fake - E[real] = [-2, 0]
    assert loss.d_loss(REAL, FAKE) == pytest.approx(((1 + 1) / 2) + ((1 + 1) / 2))
    # G: fake - E[real] - 1 = [-3, -1]; real - E[fake] + 1 = [3, 1]
    assert loss.g_loss(FAKE, REAL) == pytest.approx((9 + 1) / 2 + (9 + 1) / 2)


def test_rasgan_hand_values():
    loss = LOSSES.get("rasgan")()
    expected = F.softplus(-torch.tensor([2.0, 0.0])).mean() + F.softplus(torch.tensor([-2.0, 0.0])).mean()
    assert loss.d_loss(REAL, FAKE) == pytest.approx(expected.item())
    expected_g = F.softplus(-torch.tensor([-2.0, 0.0])).mean() + F.softplus(torch.tensor([2.0, 0.0])).mean()
    assert loss.g_loss(FAKE, REAL) == pytest.approx(expected_g.item())


@pytest.mark.parametrize("name", ["rasgan", "ralsgan"])
def test_relativistic_needs_real_in_g_step(name):
    loss, _ = build_loss(ExperimentSpec(loss={"name": name}).loss)
    assert loss.uses_real_in_g
    with pytest.raises(ValueError, match="real data"):
        loss.g_loss(FAKE)


@pytest.mark.parametrize("name", ["rasgan", "ralsgan"])
def test_d_loss_lower_when_d_ranks_real_above_fake(name):
    loss = LOSSES.get(name)()
    assert loss.d_loss(torch.tensor([3.0, 3.0]), torch.tensor([-3.0, -3.0])) < loss.d_loss(
        torch.tensor([-3.0, -3.0]), torch.tensor([3.0, 3.0]))
