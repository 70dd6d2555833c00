"""Minibatch discrimination (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", Sec. 3.2): D's features f(x_i) [A] are projected by a tensor
T [A, K, C] to M_i [K, C]; o(x_i)_k = sum_{j != i} exp(-||M_{i,k} - M_{j,k}||_1) is appended to
the features, so D can see a lack of diversity in the batch.

DDP: the sum over j runs over the *global* batch (M is all-gathered with the differentiable
collective), so 2 workers x B compute what 1 worker x 2B does. Each D call (real, fake) is its
own minibatch, as in the paper's code.

Usable with SNGAN (``sngan`` option ``minibatch_kernels``) and with DCGAN through the
``dcgan-mbd`` family registered here (DCGAN's options plus ``minibatch_kernels``/``minibatch_dim``),
since dcgan.py is not changed by this module.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from pydantic import Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANOptions
from ganforge.models.layers import ProjectionHead


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


class DCGANMBDOptions(DCGANOptions):
    minibatch_kernels: int = Field(50, ge=1, description="minibatch-discrimination kernels B (paper: 100)")
    minibatch_dim: int = Field(5, ge=1, description="dimension C of each kernel (paper: 5)")


class DCGANMBDDiscriminator(nn.Module):
    """DCGAN trunk -> minibatch discrimination -> linear/projection head."""

    def __init__(self, img_shape, num_classes: int, opts: DCGANMBDOptions):
        super().__init__()
        base = DCGANDiscriminator(img_shape, num_classes, opts)
        features = base.head.linear.in_features
        self.trunk = base.trunk
        self.mbd = MinibatchDiscrimination(features, opts.minibatch_kernels, opts.minibatch_dim)
        self.head = ProjectionHead(features + opts.minibatch_kernels, num_classes, opts.spectral_norm_d)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.mbd(self.trunk(x)), y)


@MODELS.register("dcgan-mbd")
class DCGANMinibatch:
    """DCGAN with minibatch discrimination before D's head (Salimans et al. 2016)."""

    Options = DCGANMBDOptions

    @staticmethod
    def build(spec, img_shape, num_classes):
        opts = DCGANMBDOptions(**spec.options)
        return (DCGANGenerator(spec.z_dim, img_shape, num_classes, opts),
                DCGANMBDDiscriminator(img_shape, num_classes, opts))
