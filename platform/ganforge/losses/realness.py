"""RealnessGAN's objective (Xiangli et al. 2020, "Real or Not Real, that is the Question", Eq. 3
and Sec. 4): D minimises E_x[KL(A1 || D(x))] + E_z[KL(A0 || D(G(z)))], where D(.) is a
distribution over N outcomes and A0/A1 are the fake/real anchor distributions.

G objectives (``g_objective``):
- ``relative`` (the one the paper trains with): E_{x,z}[KL(D(x) || D(G(z)))] - E_z[KL(A0 || D(G(z)))],
  pairing real and fake rows of the batch;
- ``anchor``: E_z[KL(A1 || D(G(z)))] - E_z[KL(A0 || D(G(z)))].
Anchors (``anchors``): ``gauss-uniform`` follows the official code's default (A0 a narrow
discretised Gaussian, A1 uniform: the histogram shapes, computed exactly instead of from 1,000
random draws); ``skewed``: discretised Gaussians (sigma 0.5) centred at -1 (A0) and +1 (A1) on
a support evenly spaced in [-1, 1]. N is read from D's output. All terms are batch means.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from ganforge.losses import LOSSES
from ganforge.losses.adversarial import AdversarialLoss


def discretised_normal(edges: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Probability mass of N(mean, std) in each bin between consecutive ``edges``, normalised."""
    cdf = torch.distributions.Normal(mean, std).cdf(edges)
    mass = cdf[1:] - cdf[:-1]
    return mass / mass.sum()


def anchors(kind: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(A0, A1), each a probability vector of length ``n``."""
    if kind == "gauss-uniform":
        a0 = discretised_normal(torch.linspace(-0.3, 0.3, n + 1, dtype=torch.float64), 0.0, 0.1)
        return a0.float(), torch.full((n,), 1.0 / n)
    edges = torch.linspace(-1 - 1 / (n - 1), 1 + 1 / (n - 1), n + 1, dtype=torch.float64)
    return discretised_normal(edges, -1.0, 0.5).float(), discretised_normal(edges, 1.0, 0.5).float()


def kl(p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(p || q) with q given as log-probabilities [B, N]; p is [N] or [B, N]."""
    p = p.expand_as(log_q)
    return (torch.xlogy(p, p) - p * log_q).sum(dim=1)


def outcomes(out) -> torch.Tensor:
    """D's outcome log-probabilities [B, N] (needs a realnessgan discriminator)."""
    logits = getattr(out, "outcome_logits", None)
    if logits is None:
        raise ValueError("the realness loss needs a discriminator that outputs a distribution "
                         "(model.name: realnessgan)")
    return logits.float().log_softmax(dim=1)


class RealnessLossOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    anchors: Literal["gauss-uniform", "skewed"] = Field("gauss-uniform", description="anchor distributions A0/A1")
    g_objective: Literal["relative", "anchor"] = Field("relative", description="generator objective (see module docstring)")


@LOSSES.register("realness")
class Realness(AdversarialLoss):
    """RealnessGAN: KL to the anchors A1 (real) and A0 (fake) over D's outcome distribution."""

    Options = RealnessLossOptions

    def __init__(self, anchors: str = "gauss-uniform", g_objective: str = "relative"):
        self.kind, self.g_objective = anchors, g_objective
        self.uses_real_in_g = g_objective == "relative"

    def _anchors(self, log_q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a0, a1 = anchors(self.kind, log_q.shape[1])
        return a0.to(log_q.device), a1.to(log_q.device)

    def d_loss(self, real_out, fake_out):
        log_real, log_fake = outcomes(real_out), outcomes(fake_out)
        a0, a1 = self._anchors(log_real)
        return kl(a1, log_real).mean() + kl(a0, log_fake).mean()

    def g_loss(self, fake_out, real_out=None):
        log_fake = outcomes(fake_out)
        a0, a1 = self._anchors(log_fake)
        if self.g_objective == "anchor":
            return kl(a1, log_fake).mean() - kl(a0, log_fake).mean()
        if real_out is None:
            raise ValueError("the relative realness objective needs D's output on real data")
        p_real = outcomes(real_out).exp().detach()
        return kl(p_real, log_fake).mean() - kl(a0, log_fake).mean()
