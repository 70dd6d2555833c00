"""Data sets: a registry of builders ``(DataSpec) -> ImageDataset`` and ``build_dataset``.

Each module in this package registers one data set (or one family of them, e.g. the IDX sets
MNIST and Fashion-MNIST). A builder returns the set at its own size; ``build_dataset`` then
applies the spec's limit, resolution and channels in one place. A builder that takes options
sets ``Options`` (a pydantic model) on itself; the spec's ``data.options`` are checked against it.
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.data.base import ImageDataset
from ganforge.registry import Registry

DATASETS = Registry("data set")


def build_dataset(spec) -> ImageDataset:
    """The data set ``spec`` (a DataSpec) names: options checked, limited, resized, converted.

    An empty result is a ValueError: a run must never silently train for zero steps.
    """
    from ganforge.config import _check_options  # the spec's one options check, shared with models

    builder = DATASETS.get(spec.name)
    options = _check_options("ganforge.data.DATASETS", spec.name, spec.options)
    raw = builder(spec.model_copy(update={"options": options}))
    dataset = raw.configured(spec.limit, spec.resolution, spec.channels)
    if len(dataset) == 0:
        where = f" in {spec.root}" if spec.root else ""
        raise ValueError(f"data set {spec.name!r}{where} has no images (data.limit={spec.limit})")
    return dataset


__all__ = ["DATASETS", "ImageDataset", "build_dataset"]

import_submodules(__name__)
