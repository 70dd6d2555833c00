"""BigGAN: orthogonal penalty by hand, truncation bounds, hierarchical z, attention placement."""
import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.losses.orthogonal import Orthogonal, matrices, off_diagonal_penalty
from ganforge.losses.regularizers import GContext
from ganforge.models import build_models
from ganforge.models.biggan import SelfAttention
from ganforge.sampling import latents, sample_images

pytestmark = pytest.mark.unit

OPTS = {"g_ch": 2, "d_ch": 2, "shared_dim": 4, "attn_res": 16}


def build(conditional=True, **extra):
    spec = ModelSpec(name="biggan", z_dim=20, conditional=conditional, options={**OPTS, **extra})
    return build_models(spec, (3, 32, 32), 10)


def test_off_diagonal_penalty_by_hand():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [0.0, 1.0]])
    # W W^T = [[5, 11, 2], [11, 25, 4], [2, 4, 1]]: off-diagonal squares 2 * (121 + 4 + 16)
    assert off_diagonal_penalty([w]) == pytest.approx(2 * (121 + 4 + 16))
    conv = torch.randn(4, 2, 3, 3)
    flat = conv.reshape(4, -1)
    gram = flat @ flat.t()
    expected = ((gram * (1 - torch.eye(4))) ** 2).sum()
    assert off_diagonal_penalty([conv]) == pytest.approx(expected.item(), rel=1e-5)


def test_orthogonal_regularizer_on_g_skips_shared_embedding_and_1d():
    G, D = build()
    names = {name for name, p in G.named_parameters() if any(p is m for m in matrices(G, ["shared."]))}
    assert names and not any(n.startswith("shared.") for n in names)
    assert all(p.dim() >= 2 for p in matrices(G, ["shared."]))
    reg = Orthogonal(1e-4)
    ctx = GContext(G, D, None, None, None, None, None)
    expected = 1e-4 * off_diagonal_penalty(matrices(G, ["shared."]))
    assert reg.g_term(ctx).item() == pytest.approx(expected.item())


def test_orthogonal_weights_have_no_penalty():
    q, _ = torch.linalg.qr(torch.randn(6, 6))
    assert off_diagonal_penalty([q]) == pytest.approx(0.0, abs=1e-8)


def test_truncation_resamples_into_bounds():
    z = latents(512, 20, seed=3, truncation=0.5)
    assert z.abs().max() <= 0.5
    at_bound = (z.abs() == 0.5).float().mean()
    assert at_bound < 0.01  # resampled, not clamped
    G, _ = build()
    images = sample_images(G.eval(), 6, seed=1, truncation=0.5)
    assert images.shape == (6, 3, 32, 32) and images.abs().max() <= 1


def test_hierarchical_z_reaches_every_block():
    G, _ = build(conditional=False)
    G.eval()
    z = torch.randn(2, 20)
    base = G(z)
    for chunk in range(4):  # 32 px: 4x4 input + 3 blocks
        moved = z.clone()
        moved[:, chunk * 5 : (chunk + 1) * 5] += 1
        assert not torch.allclose(G(moved), base)


def test_z_dim_must_split_evenly():
    with pytest.raises(ValueError, match="chunks"):
        build_models(ModelSpec(name="biggan", z_dim=21, options=OPTS), (3, 32, 32), 0)


def test_attention_in_g_and_d_at_its_resolution():
    G, D = build()
    assert list(G.net.attn) == ["1"]  # after the block that outputs 16x16
    assert sum(isinstance(m, SelfAttention) for m in G.modules()) == 1
    assert sum(isinstance(m, SelfAttention) for m in D.modules()) == 1
    attention = SelfAttention(16, sn=False)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(attention(x), x)  # gamma starts at 0
