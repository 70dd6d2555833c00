"""CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV): two generators G_AB: A -> B and G_BA: B -> A, two
70 x 70 PatchGAN discriminators D_A and D_B, LSGAN loss, cycle loss lambda = 10 each way and an
identity loss of 0.5 x lambda (the family's ``objective``; tasks/unpaired_step.py computes them).

Generator (the paper's appendix 7.2, after Johnson et al. 2016): c7s1-64, d128, d256, R256 x
``n_blocks``, u128, u64, c7s1-3: reflection padding, instance norm (no affine parameters, as the
reference code), ReLU, residual blocks of two 3 x 3 convs, tanh out. 9 blocks for 256 px
training images, 6 for 128 px and below (``n_blocks`` null picks by data.resolution). The
discriminator is models/patchgan.py's ``PatchDiscriminator`` with instance norm. N(0, 0.02) init.

The shared loop knows one G and one D, so the pair of generators is one module,
:class:`CycleGenerator` (``forward(x)`` = G_AB; ``forward(x, "b2a")`` = G_BA), and the pair of
discriminators another, :class:`CycleDiscriminator` (``forward(x, "a")`` = D_A). One optimizer
then updates both generators (both discriminators), as the reference code's chained parameters do.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.layers import init_weights_dcgan
from ganforge.models.patchgan import PatchDiscriminator, norm_layer

DIRECTIONS = ("a2b", "b2a")
DOWNSAMPLINGS = 2  # d128, d256: the image side must be divisible by 4
LARGE = 128  # above this resolution the paper uses 9 residual blocks, else 6


class CycleGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=1, description="generator width (channels of its first conv)")
    ndf: int = Field(64, ge=1, description="PatchGAN width (channels of its first layer)")
    n_blocks: int | None = Field(None, ge=0, le=24, description="residual blocks; null: 9 above 128 px, else 6 (the paper's)")
    n_layers_d: int = Field(3, ge=1, le=6, description="PatchGAN stride-2 layers: 3 is the 70x70 PatchGAN")
    norm: Literal["instance", "batch", "none"] = Field("instance", description="normalisation in G and D")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout inside the residual blocks (the reference's default: off)")
    pool_size: int = Field(50, ge=0, le=1000, description="generated images each D's image pool keeps (0: no pool)")


def blocks_for(size: int, requested: int | None) -> int:
    """Residual blocks for ``size`` px images: ``requested``, else 9 above 128 px and 6 otherwise."""
    return requested if requested is not None else (9 if size > LARGE else 6)


class ResidualBlock(nn.Module):
    """x + [reflect-pad, conv3, norm, ReLU, (dropout), reflect-pad, conv3, norm](x)."""

    def __init__(self, channels: int, norm: str, dropout: float):
        super().__init__()
        first, bias = norm_layer(norm, channels)
        second, _ = norm_layer(norm, channels)
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), first, nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), second]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """x [B, Ci, H, W] in [-1, 1] -> y [B, Co, H, W] in [-1, 1] (H, W divisible by 4)."""

    def __init__(self, in_channels: int, out_channels: int, ngf: int, n_blocks: int, norm: str, dropout: float):
        super().__init__()
        normalise, bias = norm_layer(norm, ngf)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), normalise, nn.ReLU(True)]
        width = ngf
        for _ in range(DOWNSAMPLINGS):
            normalise, _ = norm_layer(norm, width * 2)
            layers += [nn.Conv2d(width, width * 2, 3, 2, 1, bias=bias), normalise, nn.ReLU(True)]
            width *= 2
        layers += [ResidualBlock(width, norm, dropout) for _ in range(n_blocks)]
        for _ in range(DOWNSAMPLINGS):
            normalise, _ = norm_layer(norm, width // 2)
            layers += [nn.ConvTranspose2d(width, width // 2, 3, 2, 1, output_padding=1, bias=bias), normalise,
                       nn.ReLU(True)]
            width //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.in_channels, self.out_channels = in_channels, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** DOWNSAMPLINGS
        if x.shape[1] != self.in_channels or x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"CycleGAN's generator takes [B, {self.in_channels}, H, W] with H, W divisible by "
                             f"{factor}, got {tuple(x.shape)}")
        return self.net(x)


def check_direction(direction: str) -> str:
    """``direction`` if it is a2b or b2a, else one line naming both."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return direction


class CycleGenerator(nn.Module):
    """G_AB and G_BA as one module: ``forward(x, direction="a2b")``.

    ``input_shape`` / ``img_shape`` describe the a2b direction (A's and B's shapes), so code that
    knows one translator (evaluation, the paired pyfunc conventions) sees G_AB; ``shapes`` gives
    each direction's (input, output) shapes.
    """

    task = "unpaired"

    def __init__(self, shape_a: tuple[int, int, int], shape_b: tuple[int, int, int], opts: CycleGANOptions):
        super().__init__()
        self.shape_a, self.shape_b = tuple(shape_a), tuple(shape_b)
        self.input_shape, self.img_shape = self.shape_a, self.shape_b
        self.scale, self.z_dim, self.num_classes = 1, 0, 0
        blocks = blocks_for(shape_a[-1], opts.n_blocks)
        self.G_AB = ResnetGenerator(shape_a[0], shape_b[0], opts.ngf, blocks, opts.norm, opts.dropout)
        self.G_BA = ResnetGenerator(shape_b[0], shape_a[0], opts.ngf, blocks, opts.norm, opts.dropout)
        self.apply(init_weights_dcgan)

    @property
    def shapes(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
        """direction -> (input shape, output shape)."""
        return {"a2b": (self.shape_a, self.shape_b), "b2a": (self.shape_b, self.shape_a)}

    def forward(self, x: torch.Tensor, direction: str = "a2b") -> torch.Tensor:
        translator = self.G_AB if check_direction(direction) == "a2b" else self.G_BA
        return translator(x)


class CycleDiscriminator(nn.Module):
    """D_A (real A against G_BA(B)) and D_B (real B against G_AB(A)): ``forward(x, "a" | "b")``."""

    def __init__(self, shape_a: tuple[int, int, int], shape_b: tuple[int, int, int], opts: CycleGANOptions):
        super().__init__()
        self.D_A = PatchDiscriminator(shape_a[0], opts.ndf, opts.n_layers_d, opts.norm)
        self.D_B = PatchDiscriminator(shape_b[0], opts.ndf, opts.n_layers_d, opts.norm)

    def forward(self, images: torch.Tensor, domain: str) -> torch.Tensor:
        if domain not in ("a", "b"):
            raise ValueError(f"domain must be 'a' or 'b', got {domain!r}")
        return (self.D_A if domain == "a" else self.D_B)(images)


@MODELS.register("cyclegan")
class CycleGAN:
    """CycleGAN (Zhu et al. 2017): two ResNet G, two 70x70 PatchGAN D, LSGAN, 10 x cycle, 5 x identity, pools."""

    task = "unpaired"
    Options = CycleGANOptions
    # loss.weights of the unpaired task (tasks/unpaired_step.py), the paper's: identity is absolute,
    # 0.5 x lambda_cycle (set it with cycle). adversarial 2.0 because ganforge's lsgan g_loss is
    # 0.5 E[(D(G(x)) - 1)^2] (Mao et al.'s coding) where the reference code's is E[(D(G(x)) - 1)^2].
    objective = {"adversarial": 2.0, "cycle": 10.0, "identity": 5.0}
    recommended = {"loss": {"name": "lsgan"}, "train": {"ema": 0.0},
                   "schedule": {"name": "constant-linear", "options": {"hold_fraction": 0.5}},
                   "optim": {"g": {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},
                             "d": {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}}}

    @staticmethod
    def build(spec, shape_a, shape_b):
        opts = CycleGANOptions(**spec.options)
        if tuple(shape_a[1:]) != tuple(shape_b[1:]):
            raise ValueError(f"CycleGAN translates same-size images, got A {tuple(shape_a)} and B {tuple(shape_b)}")
        G = CycleGenerator(shape_a, shape_b, opts)
        D = CycleDiscriminator(shape_a, shape_b, opts)
        return G, D
