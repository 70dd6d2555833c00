"""BSA's loss terms beside the L1 reconstruction: the perceptual term over several layers of a
frozen pretrained network, and the EMD pulling the per-image latents towards N(0, I).

Perceptual features: VGG16 (torchvision's ImageNet weights, from a local file only: the path
given, GANFORGE_VGG16_WEIGHTS or $TORCH_HOME/hub/checkpoints) at relu1_2, relu2_2, relu3_3 and
relu4_3, as the reference; without those weights, the ImageNet Inception port the setup installs
(losses/perceptual.py) at Conv2d_2b, Conv2d_4a, Mixed_5d and Mixed_6e. The distance is the mean
absolute difference per layer (the reference's ``perceptual_type: l1``), summed over the layers.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

VGG16_TAPS = (3, 8, 15, 22)  # torchvision vgg16().features: relu1_2, relu2_2, relu3_3, relu4_3
INCEPTION_TAPS = (2, 5, 9, 14)  # losses/perceptual.INCEPTION_TRUNK: Conv2d_2b, Conv2d_4a, Mixed_5d, Mixed_6e


def emd_to_normal(z: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """The reference's earth mover's distance of latents ``z`` [n, d] to samples of N(0, I)
    ``reference`` [m, d]: mean over reference points of the squared distance to the nearest z,
    plus mean over z of the squared distance to the nearest reference point."""
    distances = torch.cdist(z, reference).square()
    return distances.min(dim=0).values.mean() + distances.min(dim=1).values.mean()


class LayerFeatures(nn.Module):
    """Frozen feature maps of [-1, 1] images at several depths of a pretrained trunk."""

    def __init__(self, name: str, trunk: nn.Sequential, taps: tuple[int, ...], shift: torch.Tensor,
                 scale: torch.Tensor, min_size: int = 0):
        super().__init__()
        self.name, self.trunk, self.taps, self.min_size = name, trunk[: max(taps) + 1], set(taps), min_size
        self.register_buffer("shift", shift.detach().clone().view(1, 3, 1, 1))
        self.register_buffer("scale", scale.detach().clone().view(1, 3, 1, 1))
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "LayerFeatures":
        """Always eval: the pretrained network's statistics."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        if min(x.shape[-2:]) < self.min_size:
            x = F.interpolate(x, size=(self.min_size, self.min_size), mode="bilinear", align_corners=False)
        x = (x - self.shift) / self.scale
        features = []
        for index, layer in enumerate(self.trunk):
            x = layer(x)
            if index in self.taps:
                features.append(x)
        return features


def vgg16_features(weights: str | os.PathLike | None = None) -> LayerFeatures:
    """torchvision's VGG16 features from a local weights file (metrics/weights.py's VGG16)."""
    from torchvision.models.vgg import cfgs, make_layers

    from ganforge.losses.perceptual import IMAGENET_MEAN, IMAGENET_STD
    from ganforge.metrics.weights import VGG16, require_weights

    state = torch.load(require_weights(VGG16, weights), map_location="cpu", weights_only=True)
    trunk = make_layers(cfgs["D"])
    trunk.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")})
    shift = torch.tensor([2 * m - 1 for m in IMAGENET_MEAN])
    scale = torch.tensor([2 * s for s in IMAGENET_STD])
    return LayerFeatures("vgg16", trunk, VGG16_TAPS, shift, scale)


def inception_features(weights: str | os.PathLike | None = None) -> LayerFeatures:
    """The setup's Inception port (losses/perceptual.py's trunk), tapped at four depths."""
    from ganforge.losses.perceptual import inception

    network = inception(weights)
    return LayerFeatures("inception", network.trunk, INCEPTION_TAPS, network.shift, network.scale, network.min_size)


def build_features(name: str, weights: str | None = None) -> LayerFeatures | None:
    """The perceptual network ``name`` (auto: vgg16 when its weights are given or found, else
    inception; none: no perceptual term)."""
    from ganforge.metrics.weights import VGG16, find_weights

    if name == "none":
        return None
    if name == "auto":
        found = weights or os.environ.get(VGG16.env_var) or find_weights(VGG16)
        name = "vgg16" if found else "inception"
    return {"vgg16": vgg16_features, "inception": inception_features}[name](weights)


def perceptual_distance(features: list[torch.Tensor], wanted: list[torch.Tensor]) -> torch.Tensor:
    """Sum over layers of the mean absolute feature difference."""
    return sum(F.l1_loss(a, b) for a, b in zip(features, wanted))
