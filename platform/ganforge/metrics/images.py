"""Image conversions between ganforge's convention and torch-fidelity's.

ganforge images are float ``[B, C, H, W]`` in [-1, 1] with C = 1 or 3. torch-fidelity's feature
extractors take ``uint8 [B, 3, H, W]``: generated images are quantised exactly as if they had been
saved to PNG, which is what the reference FID/IS implementations measure.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images with 1 or 3 channels -> uint8 RGB (grey is repeated to 3 channels)."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [B, 1|3, H, W], got {tuple(images.shape)}")
    pixels = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1).contiguous() if pixels.shape[1] == 1 else pixels


def from_uint8_rgb(pixels: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """uint8 RGB -> [-1, 1] float with ``channels`` channels at ``size`` x ``size`` (bilinear)."""
    images = pixels.float() / 127.5 - 1
    if channels == 1:
        images = images.mean(dim=1, keepdim=True)  # exact inverse of the grey -> RGB repeat
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return images


def resize_like_training(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """[-1, 1] images -> the channels / size a domain classifier expects, as at feature time."""
    return from_uint8_rgb(to_uint8_rgb(images), channels, size)
