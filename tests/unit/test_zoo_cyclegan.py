"""CycleGAN's networks alone (models/cyclegan.py): the paper's ResNet generator and 70x70 PatchGAN
at their reference sizes, the block count by resolution, reflection padding and instance norm,
the direction routing of the generator pair, and the spec defaults the family brings."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.models.cyclegan import CycleDiscriminator, CycleGANOptions, CycleGenerator, ResnetGenerator, blocks_for

pytestmark = pytest.mark.unit


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_paper_sizes_match_the_reference_implementation():
    """resnet_9blocks 3->3 at ngf 64 has 11.378M parameters, the 70x70 PatchGAN 2.765M (the
    numbers the reference code prints for horse2zebra)."""
    assert count(ResnetGenerator(3, 3, 64, 9, "instance", 0.0)) == 11_378_179
    assert count(CycleDiscriminator((3, 256, 256), (3, 256, 256), CycleGANOptions()).D_A) == 2_764_737


def test_nine_blocks_above_128_px_six_at_128_and_below():
    assert [blocks_for(size, None) for size in (256, 129, 128, 32)] == [9, 9, 6, 6]
    assert blocks_for(256, 3) == 3
    g = CycleGenerator((1, 32, 32), (1, 32, 32), CycleGANOptions(ngf=4))
    assert sum(type(m).__name__ == "ResidualBlock" for m in g.G_AB.modules()) == 6


def test_reflection_padding_instance_norm_and_tanh_output():
    g = ResnetGenerator(1, 3, 4, 2, "instance", 0.0)
    kinds = {type(m) for m in g.modules()}
    assert {nn.ReflectionPad2d, nn.InstanceNorm2d, nn.Tanh} <= kinds and nn.BatchNorm2d not in kinds
    y = g(torch.randn(2, 1, 16, 16) * 5)
    assert y.shape == (2, 3, 16, 16) and y.abs().max() <= 1
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.randn(1, 1, 18, 18))


def test_the_pair_routes_each_direction_to_its_generator():
    torch.manual_seed(0)
    g = CycleGenerator((1, 16, 16), (3, 16, 16), CycleGANOptions(ngf=2, n_blocks=1))
    a, b = torch.rand(2, 1, 16, 16), torch.rand(2, 3, 16, 16)
    assert torch.equal(g(a), g.G_AB(a)) and torch.equal(g(b, "b2a"), g.G_BA(b))
    assert g.shapes == {"a2b": ((1, 16, 16), (3, 16, 16)), "b2a": ((3, 16, 16), (1, 16, 16))}
    with pytest.raises(ValueError, match="a2b, b2a"):
        g(a, "sideways")
    d = CycleDiscriminator((1, 16, 16), (3, 16, 16), CycleGANOptions(ndf=2, n_layers_d=1))
    assert d(a, "a").shape[1] == 1 and torch.equal(d(b, "b"), d.D_B(b))


def test_the_family_brings_the_paper_s_training_settings():
    from ganforge.config import ExperimentSpec
    from ganforge.models import MODELS

    spec = ExperimentSpec(data={"name": "digits-inverted"}, model={"name": "cyclegan"})
    assert spec.task == "unpaired" and spec.loss.name == "lsgan" and spec.train.ema == 0.0
    assert (spec.optim.g.lr, spec.optim.g.betas, spec.schedule.name) == (2e-4, (0.5, 0.999), "constant-linear")
    assert MODELS.get("cyclegan").objective == {"adversarial": 2.0, "cycle": 10.0, "identity": 5.0}
    assert spec.model.options["pool_size"] == 50


def test_a_spec_that_mixes_tasks_or_critics_is_refused():
    from ganforge.config import ExperimentSpec

    with pytest.raises(ValueError, match="'digits' is a generate data set but task='unpaired'"):
        ExperimentSpec(task="unpaired", data={"name": "digits"}, model={"name": "cyclegan"})
    with pytest.raises(ValueError, match="n_critic must be 1"):
        ExperimentSpec(data={"name": "digits-inverted"}, model={"name": "cyclegan"}, loss={"n_critic": 2})
    with pytest.raises(ValueError, match="unknown term"):
        ExperimentSpec(data={"name": "digits-inverted"}, model={"name": "cyclegan"}, loss={"weights": {"l1": 1.0}})
