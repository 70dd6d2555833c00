"""Named Albumentations pipelines (``augment.preset``) and ``build_pipeline``.

Magnitudes are small on purpose (GAN-safe): real-image augmentation leaks into the generator,
so each transform fires on only part of the images and changes them slightly:

- ``blur``: GaussianBlur 3x3 with sigma 0.1-1.0 (p=0.3) and GaussNoise with a standard
  deviation of 1-3 % of the value range, i.e. 2.5-7.7 grey levels (p=0.3).
- ``blur+flip``: the above and HorizontalFlip (p=0.5).
- ``blur+flip+affine``: the above and Affine: shift up to 6.25 %, scale 0.95-1.05, rotation
  up to 5 degrees, reflected borders so no black corners appear (p=0.5).
"""
from __future__ import annotations

import albumentations as A
import cv2

from ganforge.augment import PRESETS
from ganforge.augment.validate import build_transform


@PRESETS.register("none")
def none() -> list:
    """No augmentation."""
    return []


@PRESETS.register("blur")
def blur() -> list:
    """Mild Gaussian blur and Gaussian noise, each on 30 % of the images."""
    return [A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.1, 1.0), p=0.3),
            A.GaussNoise(std_range=(0.01, 0.03), p=0.3)]


@PRESETS.register("blur+flip")
def blur_flip() -> list:
    """``blur`` plus a horizontal flip of half the images."""
    return [*blur(), A.HorizontalFlip(p=0.5)]


@PRESETS.register("blur+flip+affine")
def blur_flip_affine() -> list:
    """``blur+flip`` plus a small random shift / scale / rotation of half the images."""
    affine = A.Affine(translate_percent=(-0.0625, 0.0625), scale=(0.95, 1.05), rotate=(-5, 5),
                      border_mode=cv2.BORDER_REFLECT_101, p=0.5)
    return [*blur_flip(), affine]


def build_pipeline(spec) -> A.Compose | None:
    """The preset's transforms then ``spec.transforms`` (an AugmentSpec) as one Compose; None if empty.

    The data set seeds the pipeline per (seed, epoch, index) before each image.
    """
    transforms = PRESETS.get(spec.preset)() + [build_transform(t.name, t.params) for t in spec.transforms]
    return A.Compose(transforms) if transforms else None
