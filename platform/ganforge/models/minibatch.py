"""Minibatch discrimination (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", Sec. 3.2): D's features f(x_i) [A] are projected by a tensor
T [A, K, C] to M_i [K, C]; o(x_i)_k = sum_{j != i} exp(-||M_{i,k} - M_{j,k}||_1) is appended to
the features, so D can see a lack of diversity in the batch.

DDP: the sum over j runs over the *global* batch (M is all-gathered with the differentiable
collective), so 2 workers x B compute what 1 worker x 2B does. Each D call (real, fake) is its
own minibatch, as in the paper's code.

A discriminator option of DCGAN and SNGAN: ``minibatch_kernels`` (0: off) and ``minibatch_dim``.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from pydantic import BaseModel, Field
from torch import nn


class MinibatchOptions(BaseModel):
    """The minibatch-discrimination options of a discriminator (DCGAN's and SNGAN's inherit them)."""

    minibatch_kernels: int = Field(0, ge=0, description="minibatch-discrimination kernels before D's head (0: off; paper: 100)")
    minibatch_dim: int = Field(5, ge=1, description="dimension of each minibatch-discrimination kernel (paper: 5)")


def minibatch_layer(features: int, opts: MinibatchOptions) -> nn.Module:
    """The layer between D's trunk and head: it appends ``minibatch_kernels`` features (none when off)."""
    if not opts.minibatch_kernels:
        return nn.Identity()
    return MinibatchDiscrimination(features, opts.minibatch_kernels, opts.minibatch_dim)


def gather_batch(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(x of every DDP worker concatenated [world*B, ...], offset of this worker's rows)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return x, 0
    return torch.cat(dist_fn.all_gather(x)), dist.get_rank() * x.shape[0]


class MinibatchDiscrimination(nn.Module):
    """features [B, A] -> [B, A + kernels]: the features and their closeness to the batch."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m = (h @ self.T).view(-1, self.kernels, self.kernel_dim)  # [B, K, C]
        everyone, offset = gather_batch(m)
        dist_l1 = (m[:, None] - everyone[None]).abs().sum(dim=3)  # [B, world*B, K]
        closeness = torch.exp(-dist_l1).sum(dim=1) - 1.0  # leave out j == i (exp(0) = 1)
        return torch.cat([h, closeness], dim=1)
