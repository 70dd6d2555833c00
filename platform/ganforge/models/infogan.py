"""InfoGAN (Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets").

G's input is [noise, one-hot categorical code c, continuous codes u]; D shares its convolutional
trunk with a Q head that predicts the codes of a fake (categorical logits, and the means of a
fixed-variance Gaussian for u). The mutual-information lower bound is the ``info`` regularizer in
losses/info.py (the family adds it to the spec); it trains Q and the shared trunk in the D step and G in the
G step (weights lambda: 1 categorical, ``lambda_cont`` continuous).

How codes are drawn without a new training hook:
- the categorical code is the generator's class label: ``G.num_classes`` is the number of
  categories, so the step draws it uniformly (as the paper does) and ``sample_images(...,
  class_id=k)`` and the serve endpoint's ``class_id`` fix it;
- the continuous codes are the last ``n_cont`` entries of z mapped through the normal CDF,
  u = 2 Phi(z) - 1 ~ U(-1, 1) exactly; ``latent_with_codes`` sets them for sampling;
- the regularizer recomputes both from the step's latents (``ctx.z``, the fakes' labels).
D ignores labels (the data set's labels of real images are not used). Architecture: DCGAN G/D.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANOptions


class InfoGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=4, description="generator width (DCGAN)")
    ndf: int = Field(64, ge=4, description="discriminator width (DCGAN)")
    n_categories: int = Field(10, ge=2, description="size of the categorical code (MNIST: 10)")
    n_cont: int = Field(2, ge=0, description="continuous codes, uniform on [-1, 1] (MNIST: 2)")
    q_hidden: int = Field(128, ge=1, description="hidden units of the Q head")


@dataclass
class InfoDOutput:
    """D's result: adversarial logits [B], Q's categorical logits [B, K] and code means [B, n]."""

    logits: torch.Tensor
    q_cat: torch.Tensor
    q_cont: torch.Tensor


def continuous_codes(z_tail: torch.Tensor) -> torch.Tensor:
    """u = 2 Phi(z) - 1: standard-normal entries to uniform codes on (-1, 1)."""
    return torch.erf(z_tail / 2**0.5)


class InfoGenerator(nn.Module):
    """z [B, noise + n_cont] and categorical code y [B] -> images."""

    def __init__(self, noise_dim: int, img_shape, opts: InfoGANOptions):
        super().__init__()
        self.n_cont, self.num_classes = opts.n_cont, opts.n_categories
        self.z_dim, self.img_shape = noise_dim + opts.n_cont, tuple(img_shape)
        in_dim = noise_dim + opts.n_categories + opts.n_cont
        self.net = DCGANGenerator(in_dim, img_shape, 0, DCGANOptions(ngf=opts.ngf))

    def codes(self, z: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(categorical code [B], continuous codes [B, n_cont]) of latents z and labels y."""
        if y is None:
            raise ValueError("infogan's categorical code is the class label: pass y (sampling does)")
        return y, continuous_codes(z[:, z.shape[1] - self.n_cont:])

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cat, cont = self.codes(z, y)
        noise = z[:, : z.shape[1] - self.n_cont]
        return self.net(torch.cat([noise, F.one_hot(cat, self.num_classes).to(z.dtype), cont], dim=1))

    def latent_with_codes(self, z: torch.Tensor, cont: torch.Tensor) -> torch.Tensor:
        """z whose continuous codes are ``cont`` (values in (-1, 1)), for fixed-code sampling."""
        tail = torch.erfinv(cont.clamp(-0.999999, 0.999999)) * 2**0.5
        return torch.cat([z[:, : z.shape[1] - self.n_cont], tail.to(z.dtype)], dim=1)


class InfoDiscriminator(nn.Module):
    """DCGAN trunk -> adversarial head and Q head (shared trunk); labels are ignored."""

    def __init__(self, img_shape, opts: InfoGANOptions):
        super().__init__()
        self.base = DCGANDiscriminator(img_shape, 0, DCGANOptions(ndf=opts.ndf))
        features = self.base.head.linear.in_features
        self.q = nn.Sequential(nn.Linear(features, opts.q_hidden), nn.LeakyReLU(0.2),
                               nn.Linear(opts.q_hidden, opts.n_categories + opts.n_cont))
        self.n_categories = opts.n_categories

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> InfoDOutput:
        h = self.base.trunk(x)
        q = self.q(h)
        return InfoDOutput(self.base.head(h, None), q[:, : self.n_categories], q[:, self.n_categories:])


@MODELS.register("infogan")
class InfoGAN:
    """InfoGAN (Chen et al. 2016): categorical + continuous codes, Q head on D's trunk."""

    Options = InfoGANOptions
    regularizers = ({"name": "info"},)  # without the MI term the codes are plain noise

    @staticmethod
    def build(spec, img_shape, num_classes):
        if spec.conditional:
            raise ValueError("infogan is unconditional (its categorical code plays the label's role): "
                             "set model.conditional=false")
        opts = InfoGANOptions(**spec.options)
        return InfoGenerator(spec.z_dim, img_shape, opts), InfoDiscriminator(img_shape, opts)
