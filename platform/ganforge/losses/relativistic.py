"""Relativistic average losses (Jolicoeur-Martineau 2018, "The relativistic discriminator: a key
element missing from standard GAN"): RaSGAN (standard, Eq. 9-10) and RaLSGAN (least squares,
Eq. 11-12). D judges whether real data is more realistic than the *average* fake (and vice
versa), so the generator's loss also uses D's output on real data (``uses_real_in_g``).

Under DDP the averages E[C(x_r)] and E[C(x_f)] must be over the *global* batch, or 2 workers x B
would differ from 1 worker x 2B: ``global_mean`` all-reduces them with the differentiable
collective (its backward all-reduces the gradient), and the outer terms stay batch means.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.nn.functional as F

from ganforge.losses import LOSSES, logits_of
from ganforge.losses.adversarial import AdversarialLoss


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the batch of every DDP worker (differentiable; local without DDP)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return x.mean()
    return dist_fn.all_reduce(x.sum()) / (x.shape[0] * dist.get_world_size())


def relative(real_out, fake_out) -> tuple[torch.Tensor, torch.Tensor]:
    """(C(x_r) - E[C(x_f)], C(x_f) - E[C(x_r)]): the relativistic average logits."""
    real, fake = logits_of(real_out), logits_of(fake_out)
    return real - global_mean(fake), fake - global_mean(real)


class Relativistic(AdversarialLoss):
    """Base: the G loss is the D loss with real and fake swapped."""

    uses_real_in_g = True

    def g_loss(self, fake_out, real_out=None):
        if real_out is None:
            raise ValueError(f"{type(self).__name__} needs D's output on real data in the G step")
        return self.d_loss(fake_out, real_out)


@LOSSES.register("rasgan")
class RaSGAN(Relativistic):
    """RaSGAN: -E[log sigmoid(C(x_r) - E C(x_f))] - E[log(1 - sigmoid(C(x_f) - E C(x_r)))]."""

    def d_loss(self, real_out, fake_out):
        real_rel, fake_rel = relative(real_out, fake_out)
        return F.softplus(-real_rel).mean() + F.softplus(fake_rel).mean()


@LOSSES.register("ralsgan")
class RaLSGAN(Relativistic):
    """RaLSGAN: E[(C(x_r) - E C(x_f) - 1)^2] + E[(C(x_f) - E C(x_r) + 1)^2]."""

    def d_loss(self, real_out, fake_out):
        real_rel, fake_rel = relative(real_out, fake_out)
        return ((real_rel - 1) ** 2).mean() + ((fake_rel + 1) ** 2).mean()
