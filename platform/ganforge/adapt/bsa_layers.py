"""The generator BSA trains (Noguchi & Harada 2019): the source's G with every pretrained weight
frozen, new per-channel scale/shift parameters on its normalisation outputs, and one latent per
training image.

Family adapters (``BSA_FAMILIES``) say where the scale/shift go, as the reference does per model:

- sngan: a scale/shift after the first linear layer (on its 4x4 maps) and after every
  normalisation of every block (gamma 1, beta 0 at the start: the source's output is unchanged);
- biggan: a scale/shift after the first linear layer; the conditional-BN projections (gain and
  bias from the conditioning vector) are trained as they are; a conditional source's class
  embedding is replaced by one learnt vector (a linear map of a constant 1, small at the start),
  so the adapted model is unconditional.

The source runs in eval mode: its BatchNorm normalises with the pretrained running statistics,
which stay as they are (the reference trains with ``train: False`` too); only the scale and
shift of those statistics adapt. A generator rebuilt from a file gets the same layers
(``adapted_generator``), so its state dict loads bit for bit.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ganforge.registry import Registry

BSA_FAMILIES: Registry = Registry("BSA model family")


class ScaleShift(nn.Module):
    """h * gamma + beta per channel (dim 1); gamma = 1 and beta = 0 at the start."""

    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        shape = [1, -1] + [1] * (h.dim() - 2)
        return h * self.gamma.view(shape) + self.beta.view(shape)

    def regulariser(self) -> torch.Tensor:
        """mean (gamma - 1)^2 + mean beta^2: how far this layer moved from the source's output."""
        return (self.gamma - 1).square().mean() + self.beta.square().mean()


class AdaptedNorm(nn.Module):
    """A (conditional) normalisation layer followed by a ScaleShift of its output."""

    def __init__(self, inner: nn.Module, channels: int):
        super().__init__()
        self.inner, self.adapt = inner, ScaleShift(channels)

    def forward(self, x: torch.Tensor, *cond) -> torch.Tensor:
        return self.adapt(self.inner(x, *cond))


class AdaptedLinear(nn.Module):
    """The first linear layer (z -> C x 4 x 4, flattened) with a ScaleShift per output channel."""

    def __init__(self, inner: nn.Module, channels: int):
        super().__init__()
        self.inner, self.adapt = inner, ScaleShift(channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inner(z)
        return self.adapt(h.view(h.shape[0], self.adapt.gamma.numel(), -1)).flatten(1)


class ConstantEmbedding(nn.Module):
    """A linear map of the constant 1 in place of a class embedding: one learnt vector for every y.

    Initialised as the reference does, He-normal with scale sqrt(0.001) (std sqrt(0.002)), near 0.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim) * math.sqrt(0.002))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.weight.expand(y.shape[0], -1)

    def regulariser(self) -> torch.Tensor:
        """mean W^2 (the reference's regulariser of BigGAN's class map)."""
        return self.weight.square().mean()


def _adapt_first_linear(net: nn.Module) -> None:
    net.linear = AdaptedLinear(net.linear, net.c0)


@BSA_FAMILIES.register("sngan")
def adapt_sngan(G: nn.Module) -> list[nn.Parameter]:
    """Scale/shift after the first linear layer and after both normalisations of every block."""
    net = G.net
    _adapt_first_linear(net)
    for block in net.blocks:
        block.bn1 = AdaptedNorm(block.bn1, block.bn1.bn.num_features)
        block.bn2 = AdaptedNorm(block.bn2, block.bn2.bn.num_features)
    return []


@BSA_FAMILIES.register("biggan")
def adapt_biggan(G: nn.Module) -> list[nn.Parameter]:
    """Scale/shift after the first linear layer, the class embedding replaced by a learnt vector;
    returns the pretrained parameters BSA trains: the conditional-BN projections."""
    _adapt_first_linear(G.net)
    if G.shared is not None:
        G.shared = ConstantEmbedding(G.shared.embedding_dim)
    return [p for block in G.net.blocks for norm in (block.bn1, block.bn2)
            for projection in (norm.gain, norm.bias) for p in projection.parameters()]


class AdaptedGenerator(nn.Module):
    """G(z) of the adapted source (unconditional), plus ``latents``: one z per training image.

    ``class_id``: the label a conditional source is run with (SNGAN's conditional BN; BigGAN's
    embedding is replaced and ignores it). ``z_dim``, ``num_classes`` (0) and ``img_shape`` follow
    the generator contract, so sampling, evaluation, the pyfunc and Serve use it as any other.
    """

    def __init__(self, source: nn.Module, family: str, n_images: int, class_id: int = 0):
        super().__init__()
        if family not in BSA_FAMILIES:
            raise ValueError(f"adapt.method=bsa adapts {', '.join(BSA_FAMILIES.names())} generators, not {family!r}; "
                             "use adapt.method: finetune or freezed for this source")
        source.requires_grad_(False)  # every pretrained weight; the adapter names the ones BSA trains
        pretrained_trained = BSA_FAMILIES.get(family)(source)
        for param in pretrained_trained:
            param.requires_grad_(True)
        self.source = source
        self.z_dim, self.num_classes, self.img_shape = source.z_dim, 0, tuple(source.img_shape)
        self.source_classes, self.class_id = int(source.num_classes), int(class_id)
        if self.source_classes and not 0 <= self.class_id < self.source_classes:
            raise ValueError(f"adapt.settings.class_id={class_id} is outside the source's classes 0..{self.source_classes - 1}")
        self.latents = nn.Parameter(torch.zeros(n_images, self.z_dim))  # the reference's initial_z: zero
        trained_ids = {id(p) for p in pretrained_trained}
        self.pretrained_names = {name for name, p in source.named_parameters() if id(p) in trained_ids}
        self.train()

    def train(self, mode: bool = True) -> "AdaptedGenerator":
        """Mode of the new parameters; the source always normalises with its pretrained statistics."""
        super().train(mode)
        self.source.eval()
        return self

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        labels = torch.full((z.shape[0],), self.class_id, dtype=torch.long, device=z.device) if self.source_classes else None
        return self.source(z, labels)

    def reconstruct(self, indices: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """The images that training image ``indices``' latents (plus ``noise``) give."""
        z = self.latents[indices]
        return self(z if noise is None else z + noise)

    def adapters(self) -> list[nn.Module]:
        """The new modules (ScaleShift, ConstantEmbedding): what the regulariser pulls back."""
        return [m for m in self.modules() if isinstance(m, (ScaleShift, ConstantEmbedding))]

    def regulariser(self) -> torch.Tensor:
        """Sum over the new modules of their pull towards the source (gamma -> 1, beta -> 0, W -> 0)."""
        return sum(module.regulariser() for module in self.adapters())

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The trained parameters by kind: latents, new scale/shift (and class map), pretrained ones."""
        new = [p for m in self.adapters() for p in m.parameters()]
        pretrained = [p for name, p in self.source.named_parameters() if name in self.pretrained_names]
        return {"latents": [self.latents], "scale_shift": new, "pretrained": pretrained}
