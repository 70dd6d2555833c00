"""FastGAN: SLE shapes and gating, decoder reconstruction targets, ablation switches."""
import pytest
import torch

from ganforge.config import ModelSpec
from ganforge.losses.reconstruction import Reconstruction, reconstruction_targets
from ganforge.losses.regularizers import DContext
from ganforge.models import build_models
from ganforge.models.fastgan import SLE, crop_quadrants
from ganforge.noise import BatchRandom

pytestmark = pytest.mark.unit


def build(res=32, **options):
    spec = ModelSpec(name="fastgan", z_dim=8, options={"ngf": 2, "ndf": 2, "sle_ratio": 8, "decoder_res": 16, **options})
    return build_models(spec, (3, res, res), 0)


def test_sle_gates_channels_of_the_larger_features():
    sle = SLE(6, 4)
    low, high = torch.randn(2, 6, 4, 4), torch.randn(2, 4, 32, 32)
    out = sle(low, high)
    assert out.shape == high.shape
    gate = out / high
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-5)  # one gate per channel
    assert ((gate > 0) & (gate < 1)).all()


@pytest.mark.parametrize("res,ratio,pairs", [(256, 16, {64: 4, 128: 8, 256: 16}), (32, 8, {32: 4}), (32, 16, {})])
def test_sle_pairs_follow_the_paper_layout(res, ratio, pairs):
    G, _ = build(res, sle_ratio=ratio)
    assert G.sle_source == pairs
    assert not build(res, sle=False)[0].sle


def test_crop_quadrants_per_sample():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(4, 1, 1, 1)
    crops = crop_quadrants(x, torch.tensor([0, 1, 2, 3]))
    assert crops[0, 0].tolist() == [[0, 1], [4, 5]] and crops[1, 0].tolist() == [[2, 3], [6, 7]]
    assert crops[2, 0].tolist() == [[8, 9], [12, 13]] and crops[3, 0].tolist() == [[10, 11], [14, 15]]


def test_reconstruction_targets_are_resized_whole_and_quadrant():
    image = torch.rand(2, 3, 32, 32)
    whole, part = reconstruction_targets(image, torch.tensor([3, 0]), 16)
    assert torch.allclose(whole, torch.nn.functional.avg_pool2d(image, 2))
    assert torch.equal(part[0], image[0, :, 16:, 16:]) and torch.equal(part[1], image[1, :, :16, :16])


def test_decoders_reconstruct_at_decoder_resolution():
    _, D = build()
    out = D(torch.rand(3, 3, 32, 32) * 2 - 1)
    assert out.logits.shape == (3,) and out.feat8.shape[-1] == 8 and out.feat16.shape[-1] == 16
    whole, part = D.decode(out, torch.tensor([0, 1, 2]))
    assert whole.shape == part.shape == (3, 3, 16, 16)


def test_reconstruction_term_matches_hand_l1_and_skips_without_decoders():
    _, D = build()
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    out = D(real)
    rng = BatchRandom(0, 0, "rec")
    term = Reconstruction(2.0).d_term(DContext(D, real, real, None, out, out, rng))
    quadrant = BatchRandom(0, 0, "rec").randint(0, 4, 4)
    whole, part = D.decode(out, quadrant)
    t_whole, t_part = reconstruction_targets(real, quadrant, 16)
    expected = 2.0 * ((whole - t_whole).abs().mean() + (part - t_part).abs().mean())
    assert term.item() == pytest.approx(expected.item(), rel=1e-5)
    _, bare = build(decoders=False)
    assert Reconstruction(1.0).d_term(DContext(bare, real, real, None, bare(real), None, rng)) is None


def test_reconstruction_needs_fastgan():
    _, D = build_models(ModelSpec(name="dcgan", options={"ngf": 8, "ndf": 8}), (3, 32, 32), 0)
    with pytest.raises(ValueError, match="fastgan"):
        Reconstruction().d_term(DContext(D, None, None, None, None, None, None))
