"""Regularizers composable with any adversarial loss.

A regularizer may add a term to the D objective (``d_term``), to the G objective (``g_term``),
or act on D after its update (``after_d_step``). Terms are batch means, so they are DDP-exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

from ganforge.losses import REGULARIZERS, logits_of


@dataclass
class DContext:
    """What a D-step regularizer may use."""

    D: torch.nn.Module
    real: torch.Tensor
    fake: torch.Tensor
    y: torch.Tensor | None
    real_out: Any
    fake_out: Any
    rng: Any  # ganforge.noise.BatchRandom for this update
    z: torch.Tensor | None = None  # the latents the fakes were generated from
    y_fake: torch.Tensor | None = None  # the fakes' labels (conditional models)


@dataclass
class GContext:
    """What a G-step regularizer may use."""

    G: torch.nn.Module
    D: torch.nn.Module
    z: torch.Tensor
    y: torch.Tensor | None
    fake: torch.Tensor
    fake_out: Any
    rng: Any


class Regularizer:
    """Base: every hook is optional; ``weight`` multiplies returned terms."""

    Options = None
    name = "regularizer"  # set to the registered name by build_loss

    def __init__(self, weight: float = 1.0, **options):
        self.weight = weight

    def d_term(self, ctx: DContext) -> torch.Tensor | None:
        return None

    def g_term(self, ctx: GContext) -> torch.Tensor | None:
        return None

    def after_d_step(self, D: torch.nn.Module) -> None:
        return None


def input_gradient_norms(D, x: torch.Tensor, y) -> torch.Tensor:
    """Per-sample L2 norms of d(sum D(x))/dx, differentiable (create_graph) for penalties."""
    x = x.detach().requires_grad_(True)
    out = logits_of(D(x, y))
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1).norm(2, dim=1)


class GPOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    center: float = Field(1.0, ge=0, description="target gradient norm (1 in WGAN-GP; 0 gives zero-centred GP)")


@REGULARIZERS.register("gradient-penalty")
class GradientPenalty(Regularizer):
    """WGAN-GP penalty: weight * E[(||grad D(x_hat)|| - center)^2] on real/fake interpolates."""

    Options = GPOptions

    def __init__(self, weight: float = 10.0, center: float = 1.0):
        super().__init__(weight)
        self.center = center

    def d_term(self, ctx: DContext) -> torch.Tensor:
        alpha = ctx.rng.rand(ctx.real.shape[0], 1, 1, 1).to(ctx.real.dtype)
        mixed = alpha * ctx.real.detach() + (1 - alpha) * ctx.fake.detach()
        norms = input_gradient_norms(ctx.D, mixed, ctx.y)
        return self.weight * ((norms - self.center) ** 2).mean()


@REGULARIZERS.register("r1")
class R1(Regularizer):
    """R1 (Mescheder et al. 2018): weight/2 * E[||grad D(x_real)||^2]."""

    def d_term(self, ctx: DContext) -> torch.Tensor:
        norms = input_gradient_norms(ctx.D, ctx.real, ctx.y)
        return 0.5 * self.weight * (norms**2).mean()


class ClipOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clip: float = Field(0.01, gt=0, description="clip D's weights to [-clip, clip]")


@REGULARIZERS.register("weight-clip")
class WeightClip(Regularizer):
    """WGAN's Lipschitz constraint: clamp every D parameter after each D update."""

    Options = ClipOptions

    def __init__(self, weight: float = 1.0, clip: float = 0.01):
        super().__init__(weight)
        self.clip = clip

    @torch.no_grad()
    def after_d_step(self, D):
        for param in D.parameters():
            param.clamp_(-self.clip, self.clip)
