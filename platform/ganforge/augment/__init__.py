"""Augmentation: Albumentations presets for real images, and differentiable DiffAugment.

Albumentations pipelines run per image in the data loader and only see real images, so what
they do leaks into what the generator learns (a preset that flips digits teaches G mirrored
digits): keep them mild. DiffAugment runs on real *and* fake batches inside the training step,
differentiably, and does not leak (Zhao et al. 2020).
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.registry import Registry

PRESETS = Registry("augment preset")

import_submodules(__name__)

from ganforge.augment.diffaugment import DIFF_POLICIES, diff_augment, validate_diffaugment  # noqa: E402
from ganforge.augment.presets import build_pipeline  # noqa: E402
from ganforge.augment.validate import validate_transform  # noqa: E402

__all__ = ["DIFF_POLICIES", "PRESETS", "build_pipeline", "diff_augment", "validate_diffaugment",
           "validate_transform"]
