"""SRResNet / SRGAN: sub-pixel upscaling x2 and x4, the residual trunk, the VGG-style D on 96 px
HR crops, and parameter counts equal to a paper-faithful reference at the paper's configuration."""
import pytest
import torch
from torch import nn

from ganforge.config import ModelSpec
from ganforge.models import MODELS, families

pytestmark = pytest.mark.unit

# Counted by building the networks of Lornatang/SRGAN-PyTorch (model.py at 0cc33e5b: the paper's
# figure 4 with BN and PReLU; BasicSR's MSRResNet drops BN, so it is not the paper's) in a
# throwaway script: Generator() at x4 and Discriminator() on 96 x 96 crops.
REFERENCE_SRRESNET_X4 = 1_547_350
REFERENCE_SRGAN_D_96 = 23_563_649

SMALL = {"n_blocks": 2, "ngf": 8, "ndf": 4, "dense": 16}


def build(family="srresnet", lr=24, scale=4, channels=3, **options):
    return MODELS.get(family).build(ModelSpec(name=family, options=options), (channels, lr, lr),
                                    (channels, lr * scale, lr * scale))


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_configuration_has_the_reference_parameter_counts():
    G, D = build(lr=24, scale=4)
    assert count(G) == REFERENCE_SRRESNET_X4
    assert count(D) == REFERENCE_SRGAN_D_96


@pytest.mark.parametrize("scale", [2, 4])
def test_subpixel_blocks_double_the_size_once_per_factor_of_two(scale):
    G, _ = build(lr=10, scale=scale, **SMALL)
    shapes = []
    hooks = [block.register_forward_hook(lambda m, args, out: shapes.append(out.shape)) for block in G.upsample]
    out = G(torch.randn(2, 3, 10, 10))
    for hook in hooks:
        hook.remove()
    assert len(G.upsample) == {2: 1, 4: 2}[scale]
    assert shapes == [(2, 8, 10 * 2 ** (i + 1), 10 * 2 ** (i + 1)) for i in range(len(G.upsample))]
    assert all(isinstance(block[1], nn.PixelShuffle) and block[0].out_channels == 4 * 8 for block in G.upsample)
    assert out.shape == (2, 3, 10 * scale, 10 * scale) and out.abs().max() <= 1
    assert (G.task, G.input_shape, G.img_shape, G.scale, G.z_dim, G.num_classes) == (
        "paired", (3, 10, 10), (3, 10 * scale, 10 * scale), scale, 0, 0)


def test_trunk_is_16_bn_prelu_residual_blocks():
    G, _ = build(lr=4, scale=2)
    assert len(G.blocks) == 16
    for block in G.blocks:
        kinds = [type(m) for m in block.body]
        assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.PReLU, nn.Conv2d, nn.BatchNorm2d]
    block = G.blocks[0].eval()
    with torch.no_grad():
        for conv in (block.body[0], block.body[3]):
            conv.weight.zero_()
    x = torch.randn(1, 64, 4, 4)
    assert torch.allclose(block(x), x + block.body[4].bias.view(1, -1, 1, 1))  # identity path plus the block


def test_discriminator_on_96px_hr_crops():
    _, D = build(lr=24, scale=4)
    convs = [(m.in_channels, m.out_channels, m.stride[0]) for m in D.features if isinstance(m, nn.Conv2d)]
    assert convs == [(3, 64, 1), (64, 64, 2), (64, 128, 1), (128, 128, 2),
                     (128, 256, 1), (256, 256, 2), (256, 512, 1), (512, 512, 2)]
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    assert [(m.in_features, m.out_features) for m in D.head if isinstance(m, nn.Linear)] == [(512 * 6 * 6, 1024),
                                                                                           (1024, 1)]
    D.eval()
    hr = torch.randn(2, 3, 96, 96)
    logits = D(torch.randn(2, 3, 24, 24), hr)
    assert logits.shape == (2,)
    assert torch.equal(logits, D(torch.randn(2, 3, 24, 24), hr))  # unconditional: the LR input is ignored


def test_srgan_starts_from_an_srresnet_generator():
    srresnet, _ = build("srresnet", lr=6, scale=4, **SMALL)
    srgan, _ = build("srgan", lr=6, scale=4, **SMALL)
    srgan.load_state_dict(srresnet.state_dict())  # strict: the same architecture
    srresnet.eval(), srgan.eval()
    x = torch.randn(1, 3, 6, 6)
    assert torch.equal(srgan(x), srresnet(x))
    assert MODELS.get("srgan").init_sources == ("srresnet",)


def test_objectives_are_the_papers():
    assert MODELS.get("srresnet").objective == {"mse": 1.0, "adversarial": 0.0, "l1": 0.0, "content": 0.0}
    assert MODELS.get("srgan").objective == {"mse": 0.0, "content": 1.0, "adversarial": 1e-3, "l1": 0.0}
    assert {"srresnet", "srgan"} <= set(families("paired"))


@pytest.mark.parametrize("lr,hr", [(16, 48), (16, 32 + 1), (16, 16)])
def test_a_target_not_a_power_of_two_larger_is_a_clear_error(lr, hr):
    with pytest.raises(ValueError, match="2x, 4x, 8x"):
        MODELS.get("srresnet").build(ModelSpec(name="srresnet"), (3, lr, lr), (3, hr, hr))


def test_bicubic_skip_makes_the_untrained_g_the_evaluation_baseline_with_the_same_state_dict():
    """skip: bicubic adds the baseline's bicubic upsampling (PIL's, metrics/translation.py) to a last
    conv that starts at zero: the untrained G is the baseline to within 1.5 grey levels (PIL rounds
    between its passes), clamped outside training, and scores the baseline's PSNR-Y; the state
    dict is the paper G's, so SRGAN can start from such an SRResNet."""
    from ganforge.metrics.translation import bicubic_upsample, quantised

    G, _ = build(lr=6, scale=4, skip="bicubic", **SMALL)
    plain, _ = build(lr=6, scale=4, **SMALL)
    assert G.state_dict().keys() == plain.state_dict().keys()
    assert not G.to_image[0].weight.any() and not G.to_image[0].bias.any()
    x = torch.randint(0, 256, (2, 3, 6, 6)).float() / 127.5 - 1  # 8-bit inputs, as the data sets give
    baseline = bicubic_upsample(x, (24, 24)).float()
    out = G.eval()(x)
    assert out.abs().max() <= 1 and (out - baseline).abs().max() <= 1.5 / 127.5
    assert (quantised(out) - quantised(baseline)).abs().mean() < 0.3 / 127.5
    trained = G.train()(x)
    assert trained.abs().max() > 1  # bicubic overshoots [-1, 1]; training keeps it, eval clamps
    assert torch.equal(trained.clamp(-1, 1), out)
    with pytest.raises(ValueError, match="same channels.*skip=none"):
        MODELS.get("srresnet").build(ModelSpec(name="srresnet", options={**SMALL, "skip": "bicubic"}), (1, 6, 6), (3, 24, 24))


def test_the_paper_g_keeps_pytorchs_default_init_of_its_last_conv():
    G, _ = build(lr=6, scale=4, **SMALL)
    assert G.to_image[0].weight.abs().sum() > 0 and isinstance(G.to_image[1], nn.Tanh)
