"""Adversarial losses on discriminator logits.

minimax / non-saturating: Goodfellow et al. 2014; lsgan: Mao et al. 2017; hinge: Lim & Ye 2017
(as used by SNGAN/BigGAN); wgan: Arjovsky et al. 2017 (weight clipping, RMSProp);
wgan-gp: Gulrajani et al. 2017 (gradient penalty, lambda = 10, Adam(1e-4, 0, 0.9), 5 critics).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ganforge.losses import LOSSES, logits_of


class AdversarialLoss:
    """Base: subclasses define ``d_loss`` and ``g_loss`` on D outputs (means over the batch)."""

    Options = None
    uses_real_in_g = False
    # Spec values this loss is normally run with (the paper's); they fill in only what the
    # user's spec leaves unset (see config.ExperimentSpec).
    recommended: dict = {}

    def builtin_regularizers(self) -> list[dict]:
        """Regularizers that are part of this loss's definition (e.g. WGAN-GP's penalty)."""
        return []

    def d_loss(self, real_out, fake_out) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_out, real_out=None) -> torch.Tensor:
        raise NotImplementedError


@LOSSES.register("minimax")
class Minimax(AdversarialLoss):
    """Original minimax GAN loss: G minimises log(1 - D(G(z))) (saturates early in training)."""

    def d_loss(self, real_out, fake_out):
        return F.softplus(-logits_of(real_out)).mean() + F.softplus(logits_of(fake_out)).mean()

    def g_loss(self, fake_out, real_out=None):
        # log(1 - sigmoid(f)) = -softplus(f)
        return -F.softplus(logits_of(fake_out)).mean()


@LOSSES.register("non-saturating")
class NonSaturating(Minimax):
    """Non-saturating GAN loss: G maximises log D(G(z)) (Goodfellow et al.'s practical form)."""

    def g_loss(self, fake_out, real_out=None):
        return F.softplus(-logits_of(fake_out)).mean()


@LOSSES.register("lsgan")
class LeastSquares(AdversarialLoss):
    """Least-squares GAN (Mao et al. 2017) with the 0-1 coding (a=0, b=1, c=1)."""

    def d_loss(self, real_out, fake_out):
        return 0.5 * ((logits_of(real_out) - 1) ** 2).mean() + 0.5 * (logits_of(fake_out) ** 2).mean()

    def g_loss(self, fake_out, real_out=None):
        return 0.5 * ((logits_of(fake_out) - 1) ** 2).mean()


@LOSSES.register("hinge")
class Hinge(AdversarialLoss):
    """Hinge loss (Lim & Ye 2017; SNGAN, BigGAN)."""

    def d_loss(self, real_out, fake_out):
        return F.relu(1 - logits_of(real_out)).mean() + F.relu(1 + logits_of(fake_out)).mean()

    def g_loss(self, fake_out, real_out=None):
        return -logits_of(fake_out).mean()


class Wasserstein(AdversarialLoss):
    """Critic estimate of the Wasserstein-1 distance: D maximises E[D(x)] - E[D(G(z))]."""

    def d_loss(self, real_out, fake_out):
        return logits_of(fake_out).mean() - logits_of(real_out).mean()

    def g_loss(self, fake_out, real_out=None):
        return -logits_of(fake_out).mean()


class WGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clip: float = Field(0.01, gt=0, description="critic weights are clipped to [-clip, clip]")


@LOSSES.register("wgan")
class WGAN(Wasserstein):
    """WGAN (Arjovsky et al. 2017): Wasserstein loss with critic weight clipping, RMSProp."""

    Options = WGANOptions
    recommended = {"loss": {"n_critic": 5},
                   "optim": {"g": {"name": "rmsprop", "lr": 5e-5, "momentum": 0.0},
                             "d": {"name": "rmsprop", "lr": 5e-5, "momentum": 0.0}}}

    def __init__(self, clip: float = 0.01):
        self.clip = clip

    def builtin_regularizers(self):
        return [{"name": "weight-clip", "options": {"clip": self.clip}}]


class WGANGPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gp_weight: float = Field(10.0, ge=0, description="gradient penalty weight lambda")


@LOSSES.register("wgan-gp")
class WGANGP(Wasserstein):
    """WGAN-GP (Gulrajani et al. 2017): Wasserstein loss + gradient penalty (lambda = 10)."""

    Options = WGANGPOptions
    recommended = {"loss": {"n_critic": 5},
                   "optim": {"g": {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]},
                             "d": {"name": "adam", "lr": 1e-4, "betas": [0.0, 0.9]}}}

    def __init__(self, gp_weight: float = 10.0):
        self.gp_weight = gp_weight

    def builtin_regularizers(self):
        return [{"name": "gradient-penalty", "weight": self.gp_weight}]
