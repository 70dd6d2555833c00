"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transforms are applied to real and fake batches before D, in
the training step, so D cannot overfit a small data set and nothing leaks into G. The policies
and magnitudes follow the authors' DiffAugment_pytorch.py (colour: brightness +-0.5,
saturation x0-2, contrast x0.5-1.5; translation up to 1/8 of the size with zero padding;
cutout of a square half the size). Every random draw goes through ``BatchRandom`` with the
local batch size: worker ``rank`` of ``world`` gets rows ``rank::world`` of the draws for the
global batch, so split batches are augmented exactly as the whole batch would be.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ganforge.registry import Registry
from ganforge.noise import BatchRandom

DIFF_POLICIES: Registry[Callable[[torch.Tensor, BatchRandom], torch.Tensor]] = Registry("DiffAugment policy")


def _uniform(x: torch.Tensor, rng: BatchRandom) -> torch.Tensor:
    """One U[0, 1) per image, shaped to broadcast over [B, C, H, W]."""
    return rng.rand(x.size(0), 1, 1, 1).to(device=x.device, dtype=x.dtype)


def _offsets(x: torch.Tensor, rng: BatchRandom, low: int, high: int) -> torch.Tensor:
    """One integer in [low, high) per image, shaped [B, 1, 1] to broadcast over (H, W)."""
    return rng.randint(low, high, x.size(0), 1, 1).to(x.device)


@DIFF_POLICIES.register("color")
def color(x: torch.Tensor, rng: BatchRandom) -> torch.Tensor:
    """Random brightness, saturation and contrast per image."""
    x = x + (_uniform(x, rng) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, rng) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, rng) + 0.5) + mean


@DIFF_POLICIES.register("translation")
def translation(x: torch.Tensor, rng: BatchRandom, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros."""
    b, _, h, w = x.shape
    shift_h, shift_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _offsets(x, rng, -shift_h, shift_h + 1)
    dx = _offsets(x, rng, -shift_w, shift_w + 1)
    # Index into the image padded by one zero pixel: out-of-range sources land on the padding.
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx + 1).clamp(0, w + 1)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


@DIFF_POLICIES.register("cutout")
def cutout(x: torch.Tensor, rng: BatchRandom, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of ``ratio`` times the image size in each image."""
    _, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = _offsets(x, rng, 0, h + (1 - size_h % 2)) - size_h // 2
    left = _offsets(x, rng, 0, w + (1 - size_w % 2)) - size_w // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def parse_policy(policy: str) -> list[str]:
    """``"color, translation"`` -> ["color", "translation"]; "" -> [] (off)."""
    return [name.strip() for name in policy.split(",") if name.strip()]


def validate_diffaugment(policy: str) -> None:
    """Raise ValueError naming unknown policies (and the valid ones) in comma-separated ``policy``."""
    unknown = [name for name in parse_policy(policy) if name not in DIFF_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(DIFF_POLICIES.names())} (comma-separated; empty = off)")


def diff_augment(x: torch.Tensor, policy: str, rng: BatchRandom) -> torch.Tensor:
    """``x`` [B, C, H, W] with each policy in ``policy`` applied in order (differentiable)."""
    for name in parse_policy(policy):
        x = DIFF_POLICIES.get(name)(x, rng)
    return x
