"""LPIPS (Zhang et al. 2018), VGG16 variant: a learned perceptual distance between paired images.

Two weights files are needed, both from local disk (never downloaded): torchvision's ImageNet
VGG16 backbone (``vgg16-397923af.pth``; only its ``features.*`` tensors are used) and the LPIPS
linear layers (``weights-vgg16-lpips.pth``, torch-fidelity's copy of the original ``vgg.pth``).
Missing files raise :class:`~ganforge.metrics.weights.WeightsNotFoundError` naming both
environment variables. The computation mirrors torch-fidelity's ``SampleSimilarityLPIPS``.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models.vgg import cfgs, make_layers

from ganforge.metrics.paired import Reduction, check_pair, reduce_values
from ganforge.metrics.weights import LPIPS_LIN, VGG16, require_weights

CHANNELS = (64, 128, 256, 512, 512)
SLICE_ENDS = (4, 9, 16, 23, 30)  # VGG16 feature indices after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
SHIFT = (-0.030, -0.088, -0.188)  # LPIPS' input scaling layer, for images in [-1, 1]
SCALE = (0.458, 0.448, 0.450)
_LOADED: dict[tuple, "LPIPS"] = {}


class LPIPS(nn.Module):
    """VGG16 feature slices + per-layer 1x1 linear weights; forward(x, y) -> distance per image."""

    def __init__(self, backbone: dict[str, torch.Tensor], linear: dict[str, torch.Tensor]):
        super().__init__()
        features = make_layers(cfgs["D"])
        features.load_state_dict({k.removeprefix("features."): v for k, v in backbone.items() if k.startswith("features.")})
        starts = (0,) + SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(nn.Sequential(*features[a:b]) for a, b in zip(starts, SLICE_ENDS))
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        for k, lin in enumerate(self.lins):
            lin.weight.data.copy_(linear[f"lin{k}.model.1.weight"])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def _layers(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x.expand(-1, 3, -1, -1) - self.shift) / self.scale  # grey images are repeated to RGB
        outs = []
        for block in self.slices:
            x = block(x)
            outs.append(x / (x.square().sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return outs

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """LPIPS distance per image pair of [-1, 1] images (0 for identical images)."""
        pairs = zip(self._layers(x.float()), self._layers(y.float()))
        return sum(lin((a - b).square()).mean(dim=(1, 2, 3)) for lin, (a, b) in zip(self.lins, pairs))


def load_lpips(backbone_weights: str | Path | None = None, linear_weights: str | Path | None = None,
               device: torch.device | str = "cpu") -> LPIPS:
    """LPIPS from local files (env vars / torch hub dir / ganforge cache searched); kept per process."""
    backbone_path = require_weights(VGG16, backbone_weights)
    linear_path = require_weights(LPIPS_LIN, linear_weights)
    key = (str(backbone_path), str(linear_path), str(device))
    if key not in _LOADED:
        backbone = torch.load(backbone_path, map_location="cpu", weights_only=True)
        linear = torch.load(linear_path, map_location="cpu", weights_only=True)
        _LOADED[key] = LPIPS(backbone, linear).to(device)
    return _LOADED[key]


@torch.no_grad()
def lpips(x: torch.Tensor, y: torch.Tensor, network: LPIPS | None = None, reduction: Reduction = "mean") -> torch.Tensor:
    """LPIPS distance between paired [-1, 1] images (lower is more similar)."""
    check_pair(x, y)
    network = network or load_lpips(device=x.device)
    return reduce_values(network(x, y), reduction)
