"""InfoGAN's mutual-information loss (Chen et al. 2016, Sec. 5): the variational lower bound
L_I(G, Q) = E[log Q(c|x)] + H(c), minimised as -L_I up to the constant H(c):
cross-entropy of Q's categorical logits against the categorical code, plus ``lambda_cont`` times
the Gaussian negative log-likelihood (fixed unit variance: 0.5 (u - mu)^2, summed over codes) of
the continuous codes. Batch means, so DDP-exact.

The D step trains Q and the shared trunk on it (``d_term``); the G step trains G (``g_term``).
The codes come from the step's latents: the categorical code is the fakes' label, the
continuous codes the last entries of z (models/infogan.py). It needs D to return
``models.infogan.InfoDOutput``; the infogan family adds it to every spec (listing
``{name: info, weight: w}`` in loss.regularizers sets its weight).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ganforge.losses import REGULARIZERS
from ganforge.losses.regularizers import DContext, GContext, Regularizer
from ganforge.models.infogan import continuous_codes


def info_loss(z: torch.Tensor, cat: torch.Tensor | None, fake_out, lambda_cont: float) -> torch.Tensor:
    """-L_I (up to H(c)) of fakes made from latents ``z`` with categorical code ``cat``, given
    Q's predictions in ``fake_out``."""
    if cat is None or not hasattr(fake_out, "q_cat"):
        raise ValueError("the info regularizer needs an InfoGAN model (model.name: infogan): "
                         "its D returns q_cat/q_cont and its categorical code is the fakes' label")
    n_cont = fake_out.q_cont.shape[1]
    cont = continuous_codes(z[:, z.shape[1] - n_cont:])
    loss = F.cross_entropy(fake_out.q_cat.float(), cat)
    if cont.shape[1]:
        loss = loss + lambda_cont * 0.5 * ((fake_out.q_cont.float() - cont) ** 2).sum(dim=1).mean()
    return loss


class InfoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lambda_cont: float = Field(1.0, ge=0, description="weight of the continuous-code term (paper: 1, smaller for many codes)")


@REGULARIZERS.register("info")
class InfoLoss(Regularizer):
    """weight * (CE(Q_cat, c) + lambda_cont * 0.5 ||Q_cont - u||^2) on fakes, in the D and G steps."""

    Options = InfoOptions

    def __init__(self, weight: float = 1.0, lambda_cont: float = 1.0):
        super().__init__(weight)
        self.lambda_cont = lambda_cont

    def d_term(self, ctx: DContext) -> torch.Tensor:
        return self.weight * info_loss(ctx.z, ctx.y_fake, ctx.fake_out, self.lambda_cont)

    def g_term(self, ctx: GContext) -> torch.Tensor:
        return self.weight * info_loss(ctx.z, ctx.y, ctx.fake_out, self.lambda_cont)
