"""Layers shared by model families: spectral norm switch, label conditioning, cross-replica BN."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


def maybe_sn(layer: nn.Module, enabled: bool) -> nn.Module:
    """``layer`` wrapped in spectral normalisation (Miyato et al. 2018) when ``enabled``."""
    return spectral_norm(layer) if enabled else layer


def norm_2d(kind: str, channels: int) -> nn.Module:
    """A 2-D normalisation layer by name: batch, layer (GroupNorm with one group), none."""
    return NORMS_2D[kind](channels)


NORMS_2D = {
    "batch": nn.BatchNorm2d,
    "layer": lambda c: nn.GroupNorm(1, c),
    "instance": lambda c: nn.InstanceNorm2d(c, affine=True),
    "none": lambda c: nn.Identity(),
}


class ProjectionHead(nn.Module):
    """Discriminator output: linear(h) + <embed(y), h> (projection D, Miyato & Koyama 2018)."""

    def __init__(self, features: int, num_classes: int, sn: bool):
        super().__init__()
        self.linear = maybe_sn(nn.Linear(features, 1), sn)
        self.embed = maybe_sn(nn.Embedding(num_classes, features), sn) if num_classes else None

    def forward(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            if y is None:
                raise ValueError("this discriminator is conditional: pass class labels y")
            out = out + (self.embed(y) * h).sum(dim=1)
        return out


def label_input(z: torch.Tensor, y: torch.Tensor | None, embed: nn.Module | None) -> torch.Tensor:
    """Concatenate a label embedding to the latent for conditional generators."""
    if embed is None:
        return z
    if y is None:
        raise ValueError("this generator is conditional: pass class labels y")
    return torch.cat([z, embed(y)], dim=1)


class CrossReplicaBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose batch statistics are all-reduced across DDP workers (any device, gloo too).

    torch's SyncBatchNorm refuses CPU tensors; this uses the differentiable
    ``torch.distributed.nn.all_reduce`` so 2 workers x batch B normalise exactly like 1 worker
    x batch 2B. In eval mode or outside a process group it is plain BatchNorm.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and distributed):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        count = torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=x.dtype)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        stats = dist_fn.all_reduce(stats)
        channels = x.shape[1]
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels : 2 * channels] / total - mean * mean
        self._update_running(mean.detach(), var.detach(), total.detach())
        shape = [1, channels] + [1] * (x.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out

    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, total: torch.Tensor) -> None:
        if not self.track_running_stats:
            return
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        unbiased = var * total / (total - 1).clamp(min=1)
        self.running_mean.mul_(1 - momentum).add_(momentum * mean)
        self.running_var.mul_(1 - momentum).add_(momentum * unbiased)


def convert_to_cross_replica_bn(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer below ``module`` by CrossReplicaBatchNorm (same state)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossReplicaBatchNorm):
        converted = CrossReplicaBatchNorm(module.num_features, module.eps, module.momentum,
                                          module.affine, module.track_running_stats)
        converted.load_state_dict(module.state_dict())
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_to_cross_replica_bn(child))
    return module


def init_weights_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convs/linears, N(1, 0.02) norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        weight = getattr(module, "parametrizations", None)
        target = module.parametrizations.weight.original if weight is not None else module.weight
        nn.init.normal_(target, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.weight is not None:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
