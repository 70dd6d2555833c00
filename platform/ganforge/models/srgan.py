"""SRResNet and SRGAN (Ledig, Theis, Huszar, Caballero, Cunningham, Acosta, Aitken, Tejani, Totz,
Wang & Shi 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network", CVPR; figure 4).

Generator (SRResNet): a 9 x 9 conv + PReLU, 16 residual blocks (3 x 3 conv, BN, PReLU, 3 x 3 conv,
BN, plus the block input), a 3 x 3 conv + BN added to the first conv's output (the long skip),
sub-pixel upsampling blocks (3 x 3 conv to 4x the channels, PixelShuffle x2, PReLU; Shi et al.
2016), one per factor of two (two for x4), and a 9 x 9 conv to the image, tanh to [-1, 1].

Discriminator: eight 3 x 3 convs, 64 -> 512 channels, alternating stride 1 and 2 (the width
doubles after each stride-2 conv: k3n64s1, k3n64s2, k3n128s1, k3n128s2, ... k3n512s2), BN after
all but the first, LeakyReLU(0.2), then dense 1024, LeakyReLU(0.2), dense 1 (the logit; the
paper's sigmoid is in the loss). It judges the HR image alone: D(x, y) ignores the LR input x.

Two families share these networks: ``srresnet`` (MSE only, adversarial weight 0: its D is built
but never trained) and ``srgan`` (content loss on pretrained features plus 1e-3 x adversarial),
which starts from an SRResNet's weights through ``model.init_from`` (same G, same state dict).
Convs followed by BN have no bias (BN's shift replaces it). Weights keep PyTorch's default
initialisation: the paper does not specify one.

``skip: bicubic`` (off by default: the paper has none) adds the bicubic upsampling of the input to
the last conv's output, with no tanh, so the network learns the residual over bicubic, as BasicSR's
MSRResNet does over bilinear (Wang et al. 2018, ESRGAN's modified SRResNet). The upsampling is the
evaluation baseline's own (PIL's Keys a = -0.5 bicubic, models/bicubic.py; torch's a = -0.75 scores
~0.1 dB lower), and the last conv starts at zero, so an untrained G IS the bicubic baseline and every
step moves it from there (with PyTorch's default init the residual starts as noise that costs the
first hundreds of steps to undo). That is what a CPU-sized run can afford; the state dict is the
same, so an SRGAN started from such an SRResNet sets the same ``skip``.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.bicubic import bicubic_resize

D_CONVS = 8  # the paper's discriminator: 4 widths x (stride 1, stride 2)


class SRGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_blocks: int = Field(16, ge=1, description="residual blocks of the generator (the paper's B = 16)")
    ngf: int = Field(64, ge=1, description="generator width (channels of every residual block)")
    ndf: int = Field(64, ge=1, description="discriminator width of its first conv (x8 at its last)")
    dense: int = Field(1024, ge=1, description="units of the discriminator's hidden dense layer")
    skip: Literal["none", "bicubic"] = Field("none", description="none: the paper's G; bicubic: G learns the "
                                             "residual over the bicubic upsampling of its input (BasicSR's MSRResNet)")


def sr_scale(input_shape, target_shape) -> int:
    """The upscaling factor from LR to HR shapes: a power of two >= 2, the same on both axes."""
    (_, h, w), (_, big_h, big_w) = input_shape, target_shape
    scale = big_h // h
    if scale < 2 or scale & (scale - 1) or (h * scale, w * scale) != (big_h, big_w):
        raise ValueError(f"super-resolution needs a target 2x, 4x, 8x ... its input on both sides, got input "
                         f"{tuple(input_shape)} and target {tuple(target_shape)}; set data.options.scale to 2 or 4")
    return scale


class ResidualBlock(nn.Module):
    """conv-BN-PReLU-conv-BN plus the input (the paper's B residual blocks)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.PReLU(),
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def subpixel_block(width: int) -> nn.Sequential:
    """x2 sub-pixel upsampling: a conv to 4 x width channels rearranged into a 2x larger map."""
    return nn.Sequential(nn.Conv2d(width, width * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU())


class SRResNet(nn.Module):
    """LR [B, Ci, h, w] in [-1, 1] -> HR [B, Co, scale h, scale w] in [-1, 1]."""

    task = "paired"

    def __init__(self, input_shape, target_shape, opts: SRGANOptions):
        super().__init__()
        self.input_shape, self.img_shape = tuple(input_shape), tuple(target_shape)
        self.scale, self.z_dim, self.num_classes = sr_scale(input_shape, target_shape), 0, 0
        width = opts.ngf
        self.head = nn.Sequential(nn.Conv2d(input_shape[0], width, 9, 1, 4), nn.PReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(opts.n_blocks)))
        self.trunk_end = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.upsample = nn.Sequential(*(subpixel_block(width) for _ in range(int(math.log2(self.scale)))))
        self.skip = opts.skip
        if self.skip != "none" and input_shape[0] != target_shape[0]:
            raise ValueError(f"skip: {self.skip} adds the upsampled input to the output, so input and target need the "
                             f"same channels, got {input_shape[0]} and {target_shape[0]}; set model.options.skip=none")
        # With the skip, the conv's output is a residual: a tanh would bound it to [-1, 1] around the base.
        last = [nn.Conv2d(width, target_shape[0], 9, 1, 4)] + ([nn.Tanh()] if self.skip == "none" else [])
        self.to_image = nn.Sequential(*last)
        if self.skip != "none":  # a zero residual: the untrained G is the bicubic upsampling
            nn.init.zeros_(last[0].weight)
            nn.init.zeros_(last[0].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.input_shape[0]:
            raise ValueError(f"this generator takes {self.input_shape[0]}-channel inputs, got {tuple(x.shape)}")
        features = self.head(x)
        features = features + self.trunk_end(self.blocks(features))  # the long skip over all blocks
        image = self.to_image(self.upsample(features))
        if self.skip == "none":
            return image
        image = image + bicubic_resize(x, tuple(image.shape[-2:]))
        # Clamped only outside training: a clamp in training would stop the gradient of saturated pixels.
        return image if self.training else image.clamp(-1, 1)


def after_stride_2(size: int, times: int) -> int:
    """Side after ``times`` 3x3 stride-2 convs with padding 1 (each rounds up)."""
    for _ in range(times):
        size = (size + 1) // 2
    return size


class VGGDiscriminator(nn.Module):
    """(LR x, HR y [B, C, H, W]) -> logits [B], judging y alone (SRGAN's D is unconditional)."""

    def __init__(self, target_shape, opts: SRGANOptions):
        super().__init__()
        channels, height, width_px = target_shape
        layers: list[nn.Module] = []
        width = channels
        for index in range(D_CONVS):
            out = opts.ndf * 2 ** (index // 2)
            stride = 1 + index % 2
            if index == 0:
                layers += [nn.Conv2d(width, out, 3, stride, 1), nn.LeakyReLU(0.2, True)]
            else:
                layers += [nn.Conv2d(width, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2, True)]
            width = out
        self.features = nn.Sequential(*layers)
        side = after_stride_2(height, D_CONVS // 2) * after_stride_2(width_px, D_CONVS // 2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * side, opts.dense), nn.LeakyReLU(0.2, True),
                                  nn.Linear(opts.dense, 1))

    def forward(self, x: torch.Tensor | None, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(y)).squeeze(1)


def build_sr(spec, input_shape, target_shape):
    """(SRResNet G, VGG-style D) for LR ``input_shape`` -> HR ``target_shape``."""
    opts = SRGANOptions(**spec.options)
    return SRResNet(input_shape, target_shape, opts), VGGDiscriminator(target_shape, opts)


def adam(lr: float) -> dict:
    """The paper's optimiser: Adam with beta1 = 0.9."""
    return {"name": "adam", "lr": lr, "betas": (0.9, 0.999)}


@MODELS.register("srresnet")
class SRResNetFamily:
    """SRResNet (Ledig et al. 2017): 16 BN+PReLU residual blocks, sub-pixel x2 upsampling, MSE loss."""

    task = "paired"
    Options = SRGANOptions
    objective = {"mse": 1.0, "adversarial": 0.0, "l1": 0.0, "content": 0.0}
    # the paper's settings where a spec leaves them unset (config.py): Adam 1e-4, no EMA
    recommended = {"train": {"ema": 0.0}, "optim": {"g": adam(1e-4), "d": adam(1e-4)}}
    build = staticmethod(build_sr)


@MODELS.register("srgan")
class SRGANFamily:
    """SRGAN (Ledig et al. 2017): the SRResNet G with the VGG-style D, content + 1e-3 adversarial loss."""

    task = "paired"
    Options = SRGANOptions
    # content: MSE of conv5_4 VGG19 features rescaled by 1/12.75 (losses/perceptual.py), the paper's VGG54
    objective = {"mse": 0.0, "content": 1.0, "adversarial": 1e-3, "l1": 0.0}
    init_sources = ("srresnet",)  # model.init_from may name an SRResNet run: the same generator
    recommended = {"loss": {"name": "non-saturating"}, "train": {"ema": 0.0},
                   "optim": {"g": adam(1e-4), "d": adam(1e-4)}}
    build = staticmethod(build_sr)
