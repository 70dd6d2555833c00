"""DCGAN (Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional GANs"), with spectral normalisation as an option on D and G (SN-DCGAN, Miyato et
al. 2018), a conditional variant (label embedding into G, projection head on D) and minibatch
discrimination before D's head (Salimans et al. 2016; ``minibatch_kernels``, models/minibatch.py).

G: latent -> 4x4 by a transposed conv, then x2 transposed-conv blocks up to the resolution
(any power of two >= 8: 32 and 64 px are the paper's), BatchNorm + ReLU, tanh output.
D: stride-2 convs down to 4x4 with LeakyReLU(0.2), then a linear/projection head.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.layers import ProjectionHead, init_weights_dcgan, label_input, maybe_sn, norm_2d
from ganforge.models.minibatch import MinibatchOptions, minibatch_layer


class DCGANOptions(MinibatchOptions):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=4, description="generator width (channels of its last block)")
    ndf: int = Field(64, ge=4, description="discriminator width (channels of its first block)")
    spectral_norm_d: bool = Field(False, description="spectral norm on every D layer (SN-DCGAN)")
    spectral_norm_g: bool = Field(False, description="spectral norm on every G layer")
    d_norm: Literal["batch", "layer", "instance", "none"] = Field("batch", description="normalisation in D (use none/layer with gradient penalty)")
    g_norm: Literal["batch", "layer", "instance", "none"] = Field("batch", description="normalisation in G")
    embed_dim: int = Field(32, ge=1, description="label embedding size of a conditional G")


def _levels(resolution: int) -> int:
    levels = math.log2(resolution / 4)
    if resolution < 8 or levels != int(levels):
        raise ValueError(f"dcgan needs a power-of-two resolution >= 8, got {resolution}")
    return int(levels)


class DCGANGenerator(nn.Module):
    """z [B, z_dim] (+ labels) -> images [B, C, H, W] in [-1, 1]."""

    def __init__(self, z_dim: int, img_shape: tuple[int, int, int], num_classes: int, opts: DCGANOptions):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = z_dim, num_classes, tuple(img_shape)
        levels = _levels(img_shape[1])
        sn = opts.spectral_norm_g
        self.embed = nn.Embedding(num_classes, opts.embed_dim) if num_classes else None
        in_dim = z_dim + (opts.embed_dim if num_classes else 0)
        width = opts.ngf * 2 ** (levels - 1)
        layers: list[nn.Module] = [
            maybe_sn(nn.ConvTranspose2d(in_dim, width, 4, 1, 0, bias=False), sn),
            norm_2d(opts.g_norm, width), nn.ReLU(True),
        ]
        for _ in range(levels - 1):
            layers += [maybe_sn(nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), sn),
                       norm_2d(opts.g_norm, width // 2), nn.ReLU(True)]
            width //= 2
        layers += [maybe_sn(nn.ConvTranspose2d(width, img_shape[0], 4, 2, 1), sn), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_weights_dcgan)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = label_input(z, y, self.embed)
        return self.net(h[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """images [B, C, H, W] (+ labels) -> logits [B]."""

    def __init__(self, img_shape: tuple[int, int, int], num_classes: int, opts: DCGANOptions):
        super().__init__()
        levels = _levels(img_shape[1])
        sn = opts.spectral_norm_d
        width = opts.ndf
        layers: list[nn.Module] = [maybe_sn(nn.Conv2d(img_shape[0], width, 4, 2, 1), sn), nn.LeakyReLU(0.2, True)]
        for _ in range(levels - 1):
            layers += [maybe_sn(nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), sn),
                       norm_2d(opts.d_norm, width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        self.trunk = nn.Sequential(*layers, nn.Flatten())
        self.mbd = minibatch_layer(width * 16, opts)
        self.head = ProjectionHead(width * 16 + opts.minibatch_kernels, num_classes, sn)
        self.apply(init_weights_dcgan)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.mbd(self.trunk(x)), y)


@MODELS.register("dcgan")
class DCGAN:
    """DCGAN, 32/64 px, optional spectral norm (SN-DCGAN), class conditioning, minibatch discrimination."""

    Options = DCGANOptions

    @staticmethod
    def build(spec, img_shape, num_classes):
        opts = DCGANOptions(**spec.options)
        return (DCGANGenerator(spec.z_dim, img_shape, num_classes, opts),
                DCGANDiscriminator(img_shape, num_classes, opts))
