"""RealnessGAN's discriminator (Xiangli, Deng, Dai, Loy & Lin 2020, "Real or Not Real, that is
the Question", ICLR): D outputs a distribution over ``num_outcomes`` outcomes of "realness"
instead of one scalar; the ``realness`` loss (losses/realness.py) compares it with the anchor
distributions A0 (fake) and A1 (real) by KL divergence.

Architecture: the DCGAN generator and the DCGAN discriminator trunk (the paper's CIFAR-10/CelebA
baselines are DCGAN-style) with an N-way head. D returns ``RealnessDOutput``: ``outcome_logits``
[B, N] for the loss and ``logits`` [B], a scalar summary (expected outcome on a support evenly
spaced in [-1, 1]) for logging and losses that want one number.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANOptions
from ganforge.models.layers import maybe_sn


class RealnessOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=4, description="generator width (DCGAN)")
    ndf: int = Field(64, ge=4, description="discriminator width (DCGAN)")
    num_outcomes: int = Field(10, ge=3, description="outcomes of D's realness distribution (paper: 10 on CIFAR, 51 on CelebA 256)")
    spectral_norm_d: bool = Field(False, description="spectral norm in D")
    d_norm: Literal["batch", "layer", "instance", "none"] = Field("batch", description="normalisation in D")


@dataclass
class RealnessDOutput:
    """D's result: a scalar summary [B] and the realness distribution's logits [B, N]."""

    logits: torch.Tensor
    outcome_logits: torch.Tensor


class RealnessDiscriminator(nn.Module):
    """DCGAN trunk -> N outcome logits; labels are not used (unconditional)."""

    def __init__(self, img_shape, opts: RealnessOptions):
        super().__init__()
        d_opts = DCGANOptions(ndf=opts.ndf, spectral_norm_d=opts.spectral_norm_d, d_norm=opts.d_norm)
        base = DCGANDiscriminator(img_shape, 0, d_opts)
        self.trunk = base.trunk
        self.head = maybe_sn(nn.Linear(base.head.linear.in_features, opts.num_outcomes), opts.spectral_norm_d)
        self.register_buffer("support", torch.linspace(-1, 1, opts.num_outcomes))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> RealnessDOutput:
        outcome_logits = self.head(self.trunk(x))
        expected = (outcome_logits.softmax(dim=1) * self.support).sum(dim=1)
        return RealnessDOutput(expected, outcome_logits)


@MODELS.register("realnessgan")
class RealnessGAN:
    """RealnessGAN (Xiangli et al. 2020): D outputs a distribution over realness outcomes."""

    Options = RealnessOptions

    @staticmethod
    def build(spec, img_shape, num_classes):
        if spec.conditional:
            raise ValueError("realnessgan is unconditional: set model.conditional=false")
        opts = RealnessOptions(**spec.options)
        G = DCGANGenerator(spec.z_dim, img_shape, 0, DCGANOptions(ngf=opts.ngf))
        return G, RealnessDiscriminator(img_shape, opts)
