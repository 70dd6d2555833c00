"""Paired image metrics for reconstruction / translation models: MSE, PSNR, SSIM, MS-SSIM.

Inputs are two image batches of the same shape ``[B, C, H, W]``, by default in ganforge's [-1, 1]
range (``data_range=2``). Each function returns the batch mean, or per-image values with
``reduction="none"``. PSNR is torchmetrics' ``peak_signal_noise_ratio`` per image. SSIM follows
Wang et al. 2004 (11x11 Gaussian window, sigma 1.5, K1=0.01, K2=0.03, no padding) and equals
scikit-image's ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``; it
stays ours because it takes [-1, 1] images, which piq refuses (piq's ``ssim(downsample=False)``
equals it on [0, L] images and is what :mod:`ganforge.metrics.sr_convention` uses) and
torchmetrics' SSIM also averages reflect-padded border positions. MS-SSIM follows Wang et al.
2003 with its five scale weights and halves odd sizes as Wang's code does (2x2 means, the last
row or column kept); it stays ours because piq zero-pads odd sizes before halving and
torchmetrics averages padded borders and checks sizes with a formula that refuses fitting images
for fewer than five scales. Tests: tests/unit/test_metrics_paired.py, test_metrics_sr.py.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
Reduction = Literal["mean", "none"]


def check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    """Two image batches [B, C, H, W] of one shape, or a ValueError saying what was given."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two image batches [B, C, H, W] of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")


def reduce_values(values: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Per-image ``values`` as their mean ("mean") or unchanged ("none")."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return values.mean() if reduction == "mean" else values


def mse(x: torch.Tensor, y: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """Mean squared error per image."""
    check_pair(x, y)
    return reduce_values((x.double() - y.double()).square().flatten(1).mean(1), reduction)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, reduction: Reduction = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: 10 log10(range^2 / MSE); inf for identical images."""
    from torchmetrics.functional.image import peak_signal_noise_ratio  # imported on use: a large package

    check_pair(x, y)
    values = peak_signal_noise_ratio(x.double(), y.double(), data_range=data_range, reduction="none", dim=(1, 2, 3))
    return reduce_values(values.double(), reduction)


def gaussian_window(size: int, sigma: float) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``size`` taps."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-offsets.square() / (2 * sigma**2))
    return window / window.sum()


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable per-channel Gaussian filter, 'valid' (no padding)."""
    channels = x.shape[1]
    rows = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    cols = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    return F.conv2d(F.conv2d(x, rows, groups=channels), cols, groups=channels)


def ssim_components(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11,
                    sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (SSIM, contrast-structure) means over channels and valid window positions."""
    check_pair(x, y)
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images of {tuple(x.shape[-2:])} px are smaller than the {win_size}-px SSIM window; "
                         "pass a smaller odd win_size")
    x, y, window = x.double(), y.double(), gaussian_window(win_size, sigma).to(x.device)
    mu_x, mu_y = _filter(x, window), _filter(y, window)
    var_x = _filter(x * x, window) - mu_x.square()
    var_y = _filter(y * y, window) - mu_y.square()
    cov = _filter(x * y, window) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.square() + mu_y.square() + c1)
    return (luminance * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11, sigma: float = 1.5,
         reduction: Reduction = "mean") -> torch.Tensor:
    """Structural similarity per image (1 for identical images)."""
    return reduce_values(ssim_components(x, y, data_range, win_size, sigma)[0], reduction)


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 2.0, win_size: int = 11, sigma: float = 1.5,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS, reduction: Reduction = "mean") -> torch.Tensor:
    """Multi-scale SSIM per image: contrast-structure at each scale, luminance at the coarsest.

    Needs images of at least (win_size - 1) * 2^(scales - 1) + 1 px; for small images pass fewer
    ``weights`` (scales) or a smaller ``win_size``.
    """
    scales = len(weights)
    smallest = (win_size - 1) * 2 ** (scales - 1) + 1
    if min(x.shape[-2:]) < smallest:
        raise ValueError(f"MS-SSIM with {scales} scales and a {win_size}-px window needs images of at least "
                         f"{smallest} px, got {tuple(x.shape[-2:])}; pass fewer weights or a smaller win_size")
    factors = []
    for scale in range(scales):
        similarity, cs = ssim_components(x, y, data_range, win_size, sigma)
        factors.append((similarity if scale == scales - 1 else cs).clamp_min(0))  # relu: no negative bases
        x, y = F.avg_pool2d(x, 2, ceil_mode=True), F.avg_pool2d(y, 2, ceil_mode=True)
    exponents = torch.tensor(weights, dtype=torch.float64, device=x.device)
    return reduce_values(torch.stack(factors, dim=1).pow(exponents).prod(dim=1), reduction)

