"""DiffAugment: shapes, gradients, determinism and the DDP split property."""
import pytest
import torch

from ganforge.augment import DIFF_POLICIES, diff_augment, validate_diffaugment
from ganforge.config import SpecError, spec_from_dict
from ganforge.noise import BatchRandom

pytestmark = pytest.mark.unit

ALL = "color,translation,cutout"


def images(b=6, c=3, size=16, seed=0):
    return torch.rand(b, c, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
def test_shape_preserved_and_gradient_flows(policy):
    x = images().requires_grad_(True)
    y = diff_augment(x, policy, BatchRandom(0, 0, "aug"))
    assert y.shape == x.shape and y.dtype == x.dtype
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_empty_policy_is_identity():
    x = images()
    assert diff_augment(x, "", BatchRandom(0, 0, "aug")) is x


def test_deterministic_given_rng_and_different_across_steps():
    x = images()
    a = diff_augment(x, ALL, BatchRandom(1, 5, "aug"))
    assert torch.equal(a, diff_augment(x, ALL, BatchRandom(1, 5, "aug")))
    assert not torch.equal(a, diff_augment(x, ALL, BatchRandom(1, 6, "aug")))


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", ALL])
def test_split_across_two_workers_equals_whole_batch(policy):
    x = images(b=8)
    whole = diff_augment(x, policy, BatchRandom(3, 7, "aug", 0, 1))
    parts = [diff_augment(x[rank::2], policy, BatchRandom(3, 7, "aug", rank, 2)) for rank in range(2)]
    interleaved = torch.empty_like(whole)
    interleaved[0::2], interleaved[1::2] = parts
    assert torch.equal(whole, interleaved)


def test_translation_moves_content_and_pads_with_zeros():
    x = torch.ones(32, 1, 16, 16)
    y = diff_augment(x, "translation", BatchRandom(0, 0, "aug"))
    zero_rows = (y == 0).all(dim=3).sum() + (y == 0).all(dim=2).sum()
    assert zero_rows > 0 and set(y.unique().tolist()) <= {0.0, 1.0}


def test_cutout_zeroes_a_quarter_or_less():
    x = torch.ones(16, 3, 16, 16)
    y = diff_augment(x, "cutout", BatchRandom(0, 0, "aug"))
    zeroed = (y == 0).float().mean(dim=(1, 2, 3))
    assert (zeroed > 0).all() and (zeroed <= 0.25 + 1e-6).all()


def test_validation_lists_valid_policies():
    validate_diffaugment("")
    validate_diffaugment(" color , cutout ")
    with pytest.raises(ValueError, match=r"'flip'.*color, cutout, translation"):
        validate_diffaugment("color,flip")
    with pytest.raises(SpecError, match="flip"):
        spec_from_dict({"augment": {"diffaugment": "flip"}})
    assert DIFF_POLICIES.names() == ["color", "cutout", "translation"]
