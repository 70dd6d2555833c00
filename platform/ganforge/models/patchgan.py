"""PatchGAN discriminator (Isola, Zhu, Zhou & Efros 2017, "Image-to-Image Translation with
Conditional Adversarial Networks", section 3.2.2 and appendix 6.1.2): a fully convolutional
network whose every output logit judges one N x N patch of its input as real or fake.

With ``n_layers = 3`` (the paper's default) it is the 70 x 70 PatchGAN: C64-C128-C256-C512 then a
1-channel conv, 4 x 4 kernels, stride 2 in the first three layers and 1 in the last two,
LeakyReLU(0.2), no normalisation on the first layer. Each extra layer doubles the patch roughly
(n_layers 1..5 -> 16, 34, 70, 142, 286 pixels, :func:`receptive_field`; the paper's ablation
compares 16, 70 and 286).

``PatchDiscriminator`` judges one image tensor (CycleGAN uses it this way);
``PairedPatchDiscriminator`` is pix2pix's conditional D: it judges cat(input, output) on channels.
"""
from __future__ import annotations

import torch
from torch import nn

from ganforge.models.layers import init_weights_dcgan

KERNEL = 4
MAX_WIDTH_MULT = 8  # the width stops doubling at 8 x ndf (C512 for ndf 64), as the paper's D

# conv bias is redundant before a normalisation with a learned shift; instance norm in the
# reference implementation has no affine parameters, so its convs keep their bias.
PATCH_NORMS = {
    "batch": (nn.BatchNorm2d, False),
    "instance": (lambda c: nn.InstanceNorm2d(c, affine=False), True),
    "none": (lambda c: nn.Identity(), True),
}


def norm_layer(kind: str, channels: int) -> tuple[nn.Module, bool]:
    """(normalisation layer, whether the conv before it needs a bias) for ``kind``."""
    if kind not in PATCH_NORMS:
        raise ValueError(f"unknown norm {kind!r}; valid: {', '.join(PATCH_NORMS)}")
    make, bias = PATCH_NORMS[kind]
    return make(channels), bias


def receptive_field(n_layers: int) -> int:
    """Side in pixels of the input patch one output logit sees (70 for n_layers = 3)."""
    strides = [2] * n_layers + [1, 1]
    size = 1
    for stride in reversed(strides):  # walk back from one output pixel to the input
        size = (size - 1) * stride + KERNEL
    return size


class PatchDiscriminator(nn.Module):
    """images [B, C, H, W] -> logit map [B, 1, h, w], one logit per receptive_field(n_layers) patch."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        self.n_layers = n_layers
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, KERNEL, 2, 1), nn.LeakyReLU(0.2, True)]
        width = ndf
        for index in range(1, n_layers + 1):
            stride = 2 if index < n_layers else 1  # the last widening layer keeps the size
            out = ndf * min(2 ** index, MAX_WIDTH_MULT)
            normalise, bias = norm_layer(norm, out)
            layers += [nn.Conv2d(width, out, KERNEL, stride, 1, bias=bias), normalise, nn.LeakyReLU(0.2, True)]
            width = out
        layers.append(nn.Conv2d(width, 1, KERNEL, 1, 1))
        self.net = nn.Sequential(*layers)
        self.apply(init_weights_dcgan)  # N(0, 0.02), the paper's init

    @property
    def receptive_field(self) -> int:
        """Input patch side judged by one logit."""
        return receptive_field(self.n_layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class PairedPatchDiscriminator(nn.Module):
    """pix2pix's conditional D: (input x, output or target y) -> logit map of cat(x, y)."""

    def __init__(self, input_channels: int, target_channels: int, ndf: int = 64, n_layers: int = 3,
                 norm: str = "batch"):
        super().__init__()
        self.patch = PatchDiscriminator(input_channels + target_channels, ndf, n_layers, norm)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != y.shape[-2:]:
            raise ValueError(f"input {tuple(x.shape)} and output {tuple(y.shape)} differ in size; "
                             "pix2pix's D needs same-size pairs")
        return self.patch(torch.cat([x, y], dim=1))
