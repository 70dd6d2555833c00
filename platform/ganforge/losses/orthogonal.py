"""Orthogonal regularisation, off-diagonal variant (Brock, Donahue & Simonyan 2019, "Large Scale
GAN Training for High Fidelity Natural Image Synthesis", Sec. 3.1):
R_beta(W) = beta * || W W^T (.) (1 - I) ||_F^2 for every weight W (viewed as [out, -1], one filter
per row, as in BigGAN-PyTorch's ``ortho``), summed over G's (or D's) weight matrices; 1-D
parameters (biases, BN gains, attention gamma) and the shared class embedding are left out.
``weight`` is beta (paper: 1e-4).

The penalty depends on the weights only, so it is the same on every DDP rank and averaging its
gradients over ranks is exact.
"""
from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from ganforge.losses import REGULARIZERS
from ganforge.losses.regularizers import DContext, GContext, Regularizer


def off_diagonal_penalty(weights) -> torch.Tensor:
    """sum over W of ||W W^T (.) (1 - I)||_F^2 with W viewed as [rows, -1]."""
    total = None
    for weight in weights:
        w = weight.reshape(weight.shape[0], -1)
        gram = w @ w.t()
        off = gram - torch.diag_embed(torch.diagonal(gram))
        term = (off**2).sum()
        total = term if total is None else total + term
    return total


def matrices(module: torch.nn.Module, exclude: list[str]):
    """Parameters of ``module`` with >= 2 dims whose names contain none of ``exclude``."""
    return [p for name, p in module.named_parameters()
            if p.dim() >= 2 and not any(e in name for e in exclude)]


class OrthoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Literal["G", "D", "both"] = Field("G", description="which network is regularised (BigGAN: G)")
    exclude: list[str] = Field(["shared."], description="parameter-name substrings left out (BigGAN: the shared embedding)")


@REGULARIZERS.register("orthogonal")
class Orthogonal(Regularizer):
    """weight * sum_W ||W W^T (.) (1 - I)||_F^2 on G's and/or D's weight matrices."""

    Options = OrthoOptions

    def __init__(self, weight: float = 1e-4, target: str = "G", exclude: list[str] | None = None):
        super().__init__(weight)
        self.target = target
        self.exclude = ["shared."] if exclude is None else list(exclude)

    def d_term(self, ctx: DContext) -> torch.Tensor | None:
        if self.target == "G":
            return None
        return self.weight * off_diagonal_penalty(matrices(ctx.D, self.exclude))

    def g_term(self, ctx: GContext) -> torch.Tensor | None:
        if self.target == "D":
            return None
        return self.weight * off_diagonal_penalty(matrices(ctx.G, self.exclude))
