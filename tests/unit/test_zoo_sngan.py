"""SNGAN: spectral norm bounds D, conditional BN and the projection head use the labels."""
import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.models import build_models
from ganforge.models.sngan import CondBatchNorm, DBlock

pytestmark = pytest.mark.unit


def test_discriminator_layers_are_spectrally_normalised():
    _, D = build_models(ModelSpec(name="sngan", options={"g_ch": 2, "d_ch": 2}), (3, 32, 32), 0)
    for _ in range(30):  # power iteration converges over forward passes
        D(torch.randn(2, 3, 32, 32))
    conv = D.blocks[1].conv1
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_conditional_batchnorm_scales_by_class():
    bn = CondBatchNorm(3, 4)
    with torch.no_grad():
        bn.gain.weight.copy_(torch.eye(3, 4))
        bn.bias.weight.zero_()
    x = torch.randn(8, 3, 2, 2)
    normed = bn.bn(x)
    cond = torch.eye(4)[torch.tensor([0] * 8)]  # class 0 doubles channel 0
    out = bn(x, cond)
    assert torch.allclose(out[:, 0], 2 * normed[:, 0], atol=1e-6)
    assert torch.allclose(out[:, 1:], normed[:, 1:], atol=1e-6)


@pytest.mark.parametrize("down,first", [(True, True), (True, False), (False, False)])
def test_dblock_resolution(down, first):
    block = DBlock(3, 5, down, first, sn=False)
    assert block(torch.randn(2, 3, 8, 8)).shape == (2, 5, 4 if down else 8, 4 if down else 8)


def test_unsupported_resolution_is_named():
    with pytest.raises(ValueError, match="resolutions"):
        build_models(ModelSpec(name="sngan"), (3, 48, 48), 0)
