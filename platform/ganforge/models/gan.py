"""The original fully-connected GAN (Goodfellow et al. 2014, "Generative Adversarial Nets") and
its conditional form (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets"): MLPs
over flattened images, labels embedded and concatenated to G's input and projected in D.
"""
from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.layers import ProjectionHead, label_input, maybe_sn


class MLPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    g_hidden: list[int] = Field([256, 512, 1024], description="generator hidden layer widths")
    d_hidden: list[int] = Field([512, 256], description="discriminator hidden layer widths")
    spectral_norm_d: bool = Field(False, description="spectral norm on D's layers")
    embed_dim: int = Field(16, ge=1, description="label embedding size (conditional)")


class MLPGenerator(nn.Module):
    """z [B, z_dim] (+ labels) -> images [B, C, H, W] in [-1, 1] through an MLP."""

    def __init__(self, z_dim: int, img_shape, num_classes: int, opts: MLPOptions):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = z_dim, num_classes, tuple(img_shape)
        self.embed = nn.Embedding(num_classes, opts.embed_dim) if num_classes else None
        width = z_dim + (opts.embed_dim if num_classes else 0)
        layers: list[nn.Module] = []
        for hidden in opts.g_hidden:
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2, True)]
            width = hidden
        layers += [nn.Linear(width, math.prod(img_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(label_input(z, y, self.embed)).view(-1, *self.img_shape)


class MLPDiscriminator(nn.Module):
    """images (+ labels) -> logits [B] through an MLP with a projection head."""

    def __init__(self, img_shape, num_classes: int, opts: MLPOptions):
        super().__init__()
        width = math.prod(img_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for hidden in opts.d_hidden:
            layers += [maybe_sn(nn.Linear(width, hidden), opts.spectral_norm_d), nn.LeakyReLU(0.2, True)]
            width = hidden
        self.trunk = nn.Sequential(*layers)
        self.head = ProjectionHead(width, num_classes, opts.spectral_norm_d)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.trunk(x), y)


def _build_mlp(spec, img_shape, num_classes):
    opts = MLPOptions(**spec.options)
    return MLPGenerator(spec.z_dim, img_shape, num_classes, opts), MLPDiscriminator(img_shape, num_classes, opts)


@MODELS.register("gan")
class VanillaGAN:
    """Fully-connected GAN (Goodfellow et al. 2014); conditional with model.conditional=true."""

    Options = MLPOptions
    build = staticmethod(_build_mlp)


@MODELS.register("cgan")
class ConditionalGAN:
    """Conditional fully-connected GAN (Mirza & Osindero 2014); always uses class labels."""

    Options = MLPOptions

    @staticmethod
    def build(spec, img_shape, num_classes):
        if num_classes < 2:
            raise ValueError("cgan needs class labels: set model.conditional=true on a labelled data set")
        return _build_mlp(spec, img_shape, num_classes)
