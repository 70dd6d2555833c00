"""pix2pix: the U-Net's skips at every level, its output, its dropout noise, the 70x70 PatchGAN,
and parameter counts equal to the reference implementation's at the paper's configuration."""
import pytest
import torch
from torch import nn

from ganforge.config import ModelSpec
from ganforge.models import MODELS, build_models, families
from ganforge.models.patchgan import PatchDiscriminator, receptive_field
from ganforge.models.pix2pix import level_width

pytestmark = pytest.mark.unit

# Counted by building the reference networks of junyanz/pytorch-CycleGAN-and-pix2pix
# (models/networks.py at 000f2981) in a throwaway script: UnetGenerator(3, 3, 8, ngf=64,
# norm_layer=nn.BatchNorm2d) (unet_256), the same with 7 levels (unet_128) and
# NLayerDiscriminator(6, 64, n_layers=3, norm_layer=nn.BatchNorm2d) (70x70 PatchGAN on cat(A, B)).
REFERENCE_UNET_256 = 54_413_955
REFERENCE_UNET_128 = 41_828_995
REFERENCE_PATCHGAN_6CH = 2_768_705


def build(size, in_ch=3, out_ch=3, **options):
    return MODELS.get("pix2pix").build(ModelSpec(name="pix2pix", options=options), (in_ch, size, size),
                                       (out_ch, size, size))


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_configuration_has_the_reference_parameter_counts():
    G, D = build(256)
    assert G.depth == 8
    assert count(G) == REFERENCE_UNET_256
    assert count(D) == REFERENCE_PATCHGAN_6CH
    assert count(build(128)[0]) == REFERENCE_UNET_128


@pytest.mark.parametrize("size,depth,expected_depth", [(16, None, 4), (32, None, 5), (64, 3, 3), (48, None, 4)])
def test_skips_join_the_decoder_at_every_level(size, depth, expected_depth):
    G, _ = build(size, in_ch=1, ngf=4, depth=depth)
    assert G.depth == expected_depth
    decoder_inputs = {}
    hooks = [level.register_forward_pre_hook(lambda m, args, i=i: decoder_inputs.__setitem__(i, args[0].shape))
             for i, level in enumerate(G.decoder)]
    x = torch.randn(2, 1, size, size)
    skips = G.encode(x)
    G(x)
    for hook in hooks:
        hook.remove()
    assert len(skips) == expected_depth
    for level, skip in enumerate(skips):
        side = size // 2 ** (level + 1)
        assert skip.shape == (2, level_width(4, level), side, side), level
        # below the bottleneck each decoder level takes cat(skip, upsampled): twice the skip's channels
        channels = level_width(4, level) * (1 if level == expected_depth - 1 else 2)
        assert decoder_inputs[level] == (2, channels, side, side), level


def test_default_depth_reaches_a_1x1_bottleneck_up_to_unet_256():
    assert [build(size, ngf=1)[0].depth for size in (8, 32, 128)] == [3, 5, 7]
    assert build(512, ngf=1)[0].encode(torch.zeros(1, 3, 512, 512))[-1].shape[-1] == 2  # capped at 8 levels


def test_a_depth_the_size_cannot_halve_to_is_a_clear_error():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*4.*depth <= 3"):
        build(24, depth=4)


def test_output_is_the_target_shape_in_tanh_range():
    G, D = build(32, in_ch=1, out_ch=3, ngf=4, ndf=4)
    x = 50 * torch.randn(3, 1, 32, 32)  # far outside [-1, 1]: the output must still be bounded
    y = G(x)
    assert y.shape == (3, 3, 32, 32) and y.abs().max() <= 1
    assert (G.task, G.input_shape, G.img_shape, G.scale, G.z_dim, G.num_classes) == (
        "paired", (1, 32, 32), (3, 32, 32), 1, 0, 0)
    assert D(x, y).shape == (3, 1, 2, 2)


def test_dropout_sits_in_the_three_innermost_decoder_blocks_and_is_the_noise():
    G, _ = build(64, ngf=4)
    with_dropout = [i for i, level in enumerate(G.decoder) if any(isinstance(m, nn.Dropout) for m in level)]
    assert with_dropout == [3, 4, 5]
    assert all(m.p == 0.5 for m in G.modules() if isinstance(m, nn.Dropout))
    x = torch.randn(2, 3, 64, 64)
    assert not torch.equal(G.train()(x), G(x))  # two draws of the dropout noise
    assert torch.equal(G.eval()(x), G(x))
    off, _ = build(64, ngf=4, dropout=0)
    assert not any(isinstance(m, nn.Dropout) for m in off.modules())


def test_instance_norm_option_replaces_batch_norm():
    G, D = build(32, ngf=4, ndf=4, norm="instance")
    for net in (G, D):
        assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
        assert any(isinstance(m, nn.InstanceNorm2d) for m in net.modules())


def test_weights_start_from_n_0_002():
    G, D = build(64)
    for weight in (G.encoder[3][1].weight, G.decoder[3][1].weight, D.patch.net[2].weight):
        assert abs(weight.mean().item()) < 1e-3 and weight.std().item() == pytest.approx(0.02, rel=0.05)


@pytest.mark.parametrize("n_layers,patch", [(3, 70), (1, 16)])  # the paper's 70x70 and 16x16 PatchGANs
def test_one_patchgan_logit_sees_exactly_its_patch(n_layers, patch):
    D = PatchDiscriminator(6, ndf=4, n_layers=n_layers).double().eval()  # eval: batch statistics couple all pixels
    x = torch.randn(1, 6, 128, 128, dtype=torch.float64, requires_grad=True)
    logits = D(x)
    logits[0, 0, logits.shape[2] // 2, logits.shape[3] // 2].backward()  # a logit whose patch is inside the image
    seen = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    rows, cols = seen[:, 0], seen[:, 1]
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (patch, patch)
    assert len(seen) == patch * patch  # every pixel of the window, none outside it
    assert D.receptive_field == receptive_field(n_layers) == patch


def test_paired_discriminator_judges_input_and_output_together():
    _, D = build(32, in_ch=1, out_ch=3, ngf=4, ndf=4)
    D.eval()
    assert D.patch.net[0].in_channels == 4
    x, y = torch.randn(2, 1, 32, 32), torch.randn(2, 3, 32, 32)
    assert not torch.allclose(D(x, y), D(torch.randn_like(x), y))  # the condition A changes the verdict


def test_different_sizes_are_refused_with_a_pointer_to_sr():
    with pytest.raises(ValueError, match="srresnet or srgan"):
        MODELS.get("pix2pix").build(ModelSpec(name="pix2pix"), (3, 16, 16), (3, 64, 64))


def test_paired_families_are_listed_apart_and_refused_by_the_generate_builder():
    assert "pix2pix" in families("paired") and "pix2pix" not in families("generate")
    assert "dcgan" in families("generate")
    with pytest.raises(ValueError, match="set task: paired"):
        build_models(ModelSpec(name="pix2pix"), (3, 32, 32), 0)


def test_objective_is_the_papers():
    assert MODELS.get("pix2pix").objective == {"adversarial": 1.0, "l1": 100.0, "mse": 0.0, "content": 0.0}
