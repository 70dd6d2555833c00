"""PSNR-Y and SSIM-Y the way the super-resolution literature computes them (BasicSR's convention).

What BasicSR (XPixelGroup/BasicSR, ``basicsr/metrics/psnr_ssim.py`` with ``test_y_channel=True``
and ``crop_border=scale``, as its SR validation runs it) does to an output and its target, in order:

1. 8-bit rounding: the [0, 1] image is clamped, scaled by 255 and rounded (``tensor2img``), so a
   model is scored on the image a user would save, not on sub-quantum differences;
2. a border of ``scale`` pixels is cropped on every side (the pixels an upsampler cannot know);
3. the Y channel of ITU-R BT.601 YCbCr in studio swing (MATLAB's ``rgb2ycbcr``, not OpenCV's JPEG
   full-range one): ``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` for RGB in [0, 1], so Y lies in
   [16, 235] and is not rounded again; a one-channel image is its own Y;
4. PSNR = ``10 log10(255^2 / MSE)`` per image, SSIM with an 11x11 Gaussian window (sigma 1.5,
   ``K1 = 0.01, K2 = 0.03``, L = 255, valid positions only), both averaged over images.

Steps 1-3 are ours: no well-kept library implements this convention (torchmetrics and piq take
images as given; piq's greyscale is YIQ's Y without the 16/235 offsets; kornia's YCbCr is the
JPEG full-range one). Step 4 is the libraries', checked equal to BasicSR on the same Y arrays:
PSNR is torchmetrics' (piq's adds 1e-8 to the MSE, so identical images score 80 dB, not inf), SSIM
is piq's with ``downsample=False`` (torchmetrics' SSIM also averages reflect-padded border
positions, 0.01 off BasicSR at 48 px; piq's default ``downsample=True`` shrinks images of 384 px
and more first). tests/unit/test_metrics_sr.py checks every step against values made with
BasicSR's own functions and against scikit-image.
"""
from __future__ import annotations

import torch

from ganforge.metrics.paired import Reduction, check_pair, psnr, reduce_values

Y_WEIGHTS = (65.481, 128.553, 24.966)  # BT.601 luma of RGB in [0, 1], studio swing (219 levels)
Y_OFFSET = 16.0
PEAK = 255.0


def to_8bit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images -> float64 pixel values in {0, ..., 255} (clamped, then rounded as when saved)."""
    return ((images.double().clamp(-1, 1) + 1) * (PEAK / 2)).round()


def crop_border(images: torch.Tensor, border: int) -> torch.Tensor:
    """``images`` [B, C, H, W] without ``border`` pixels on each side (unchanged for border 0)."""
    if border < 0:
        raise ValueError(f"the border to crop must be >= 0 pixels, got {border}")
    if min(images.shape[-2:]) <= 2 * border:
        raise ValueError(f"cannot crop {border} px from each side of {tuple(images.shape[-2:])} px images; "
                         "evaluate on larger images or a smaller scale")
    return images[..., border:images.shape[-2] - border, border:images.shape[-1] - border] if border else images


def y_channel(pixels: torch.Tensor) -> torch.Tensor:
    """BT.601 Y in [16, 235] of RGB pixels in [0, 255] ([B, 3, H, W] -> [B, 1, H, W]); grey unchanged."""
    if pixels.dim() != 4 or pixels.shape[1] not in (1, 3):
        raise ValueError(f"expected images [B, 1|3, H, W], got {tuple(pixels.shape)}")
    if pixels.shape[1] == 1:
        return pixels  # BasicSR's to_y_channel leaves one-channel images as they are
    weights = torch.tensor(Y_WEIGHTS, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    return (pixels / PEAK * weights).sum(dim=1, keepdim=True) + Y_OFFSET


def sr_y(images: torch.Tensor, scale: int) -> torch.Tensor:
    """The array BasicSR scores: [-1, 1] images rounded to 8 bits, ``scale`` px cropped, Y channel."""
    return y_channel(crop_border(to_8bit(images), scale))


def psnr_y(output: torch.Tensor, target: torch.Tensor, scale: int, reduction: Reduction = "mean") -> torch.Tensor:
    """PSNR in dB on the Y channel, BasicSR's convention (inf for identical images)."""
    check_pair(output, target)
    return psnr(sr_y(output, scale), sr_y(target, scale), data_range=PEAK, reduction=reduction)  # torchmetrics


def ssim_y(output: torch.Tensor, target: torch.Tensor, scale: int, reduction: Reduction = "mean") -> torch.Tensor:
    """SSIM on the Y channel, BasicSR's convention (11x11 Gaussian window, sigma 1.5, L = 255)."""
    import piq  # imported on use: it imports torchvision

    check_pair(output, target)
    values = piq.ssim(sr_y(output, scale), sr_y(target, scale), kernel_size=11, kernel_sigma=1.5, data_range=PEAK,
                      reduction="none", downsample=False, k1=0.01, k2=0.03)
    return reduce_values(values, reduction)
