"""pix2pix (Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR): a U-Net generator and the 70 x 70 PatchGAN discriminator on
cat(A, B), trained with the vanilla GAN loss plus 100 x L1 (the family's ``objective``).

U-Net (appendix 6.1.1): ``depth`` stride-2 4 x 4 conv levels C64-C128-C256-C512-C512-... down to
the bottleneck, the mirrored transposed convs up, and a skip that concatenates encoder level i
to the decoder's input at level i. ``depth`` 8 on 256 px is the paper's unet_256 (7 is
unet_128); by default the depth takes the image to a 1 x 1 bottleneck, at most 8, so smaller
images get shallower variants (64 px -> 6, 32 px -> 5). BatchNorm everywhere except the first
encoder and the bottleneck layers (instance norm by ``norm``), LeakyReLU(0.2) down, ReLU up,
tanh out, N(0, 0.02) init. Dropout 0.5 in the three innermost decoder blocks is the only noise
source (the paper's CD512 layers; the generator takes no z). It is active in train mode only:
eval mode is deterministic, which is what serving and evaluation need.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.layers import init_weights_dcgan
from ganforge.models.patchgan import KERNEL, MAX_WIDTH_MULT, PairedPatchDiscriminator, norm_layer

MAX_DEPTH = 8  # unet_256: 256 px down to 1 x 1
DROPOUT_BLOCKS = 3  # the paper's three CD512 decoder layers next to the bottleneck


class Pix2PixOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=1, description="generator width (channels of the first encoder level)")
    ndf: int = Field(64, ge=1, description="PatchGAN width (channels of its first layer)")
    depth: int | None = Field(None, ge=1, le=12, description="U-Net levels; null: down to 1x1, at most 8 (unet_256)")
    n_layers_d: int = Field(3, ge=1, le=6, description="PatchGAN stride-2 layers: 3 is the 70x70 PatchGAN")
    norm: Literal["batch", "instance", "none"] = Field("batch", description="normalisation in G and D")
    dropout: float = Field(0.5, ge=0, lt=1, description="dropout in the three innermost decoder blocks; 0 turns it off")


def twos_in(size: int) -> int:
    """How many times ``size`` halves exactly (the deepest U-Net it allows)."""
    count = 0
    while size > 1 and size % 2 == 0:
        size, count = size // 2, count + 1
    return count


def unet_depth(size: int, requested: int | None) -> int:
    """The U-Net depth for ``size`` px images: ``requested``, or down to 1 x 1 capped at 8."""
    allowed = twos_in(size)
    depth = min(allowed, MAX_DEPTH) if requested is None else requested
    if depth < 1 or depth > allowed:
        raise ValueError(f"pix2pix's U-Net with depth {depth} needs image sizes divisible by 2**{depth}, "
                         f"got {size}; use a size divisible by a power of two or set model.options.depth "
                         f"<= {allowed}")
    return depth


def level_width(ngf: int, level: int) -> int:
    """Channels of encoder level ``level`` (0 = outermost): ngf, 2 ngf, 4 ngf, then 8 ngf."""
    return ngf * min(2 ** level, MAX_WIDTH_MULT)


def encoder_level(level: int, depth: int, in_ch: int, out_ch: int, norm: str) -> nn.Sequential:
    """One stride-2 down level: [LeakyReLU] conv [norm]; none on the first, no norm at the bottleneck."""
    normalise, bias = norm_layer(norm, out_ch)
    layers: list[nn.Module] = [nn.LeakyReLU(0.2, True)] if level > 0 else []
    layers.append(nn.Conv2d(in_ch, out_ch, KERNEL, 2, 1, bias=bias))  # bias as the reference, also level 0
    if 0 < level < depth - 1:  # a 1 x 1 bottleneck has nothing to normalise over
        layers.append(normalise)
    return nn.Sequential(*layers)


def decoder_level(level: int, depth: int, in_ch: int, out_ch: int, norm: str, dropout: float) -> nn.Sequential:
    """One x2 up level: ReLU, transposed conv, then norm [+ dropout], or tanh on the outermost."""
    if level == 0:
        return nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(in_ch, out_ch, KERNEL, 2, 1), nn.Tanh())
    normalise, bias = norm_layer(norm, out_ch)
    layers: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(in_ch, out_ch, KERNEL, 2, 1, bias=bias), normalise]
    if dropout > 0 and level >= depth - DROPOUT_BLOCKS:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """x [B, Ci, H, W] in [-1, 1] -> y [B, Co, H, W] in [-1, 1] through a U-Net of ``depth`` levels."""

    task = "paired"

    def __init__(self, input_shape: tuple[int, int, int], target_shape: tuple[int, int, int], opts: Pix2PixOptions):
        super().__init__()
        self.input_shape, self.img_shape = tuple(input_shape), tuple(target_shape)
        self.scale, self.z_dim, self.num_classes = 1, 0, 0
        self.depth = depth = unet_depth(input_shape[1], opts.depth)
        widths = [level_width(opts.ngf, level) for level in range(depth)]
        self.encoder = nn.ModuleList(
            encoder_level(level, depth, input_shape[0] if level == 0 else widths[level - 1], widths[level], opts.norm)
            for level in range(depth))
        self.decoder = nn.ModuleList(
            decoder_level(level, depth,
                          widths[level] * (1 if level == depth - 1 else 2),  # below the bottleneck: cat(skip, up)
                          target_shape[0] if level == 0 else widths[level - 1], opts.norm, opts.dropout)
            for level in range(depth))
        self.apply(init_weights_dcgan)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's output at every level, outermost first (the skips)."""
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        return skips

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.input_shape[0] or x.shape[-1] % 2 ** self.depth or x.shape[-2] % 2 ** self.depth:
            raise ValueError(f"pix2pix G takes [B, {self.input_shape[0]}, H, W] with H, W divisible by "
                             f"2**{self.depth}, got {tuple(x.shape)}")
        skips = self.encode(x)
        h = self.decoder[-1](skips[-1])
        for level in reversed(range(self.depth - 1)):
            h = self.decoder[level](torch.cat([skips[level], h], dim=1))
        return h


@MODELS.register("pix2pix")
class Pix2Pix:
    """pix2pix (Isola et al. 2017): U-Net G, 70x70 PatchGAN D on cat(A, B), GAN + 100 x L1."""

    task = "paired"
    Options = Pix2PixOptions
    objective = {"adversarial": 1.0, "l1": 100.0, "mse": 0.0, "content": 0.0}
    # the paper's training settings, filled in where a spec leaves them unset (config.py)
    recommended = {"loss": {"name": "non-saturating"}, "train": {"ema": 0.0},
                   "schedule": {"name": "constant-linear", "options": {"hold_fraction": 0.5}},
                   "optim": {"g": {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)},
                             "d": {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}}}

    @staticmethod
    def build(spec, input_shape, target_shape):
        opts = Pix2PixOptions(**spec.options)
        if tuple(input_shape[1:]) != tuple(target_shape[1:]):
            raise ValueError(f"pix2pix translates same-size images, got input {tuple(input_shape)} and target "
                             f"{tuple(target_shape)}; for upscaling use model.name=srresnet or srgan")
        G = UNetGenerator(input_shape, target_shape, opts)
        D = PairedPatchDiscriminator(input_shape[0], target_shape[0], opts.ndf, opts.n_layers_d, opts.norm)
        return G, D
