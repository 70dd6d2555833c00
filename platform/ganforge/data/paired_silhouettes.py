"""silhouettes: a seconds-fast paired set for tests and smoke runs (silhouette mask -> garment or digit).

The target is a Fashion-MNIST image where scripts/setup_data.sh installed it (found as
``fashion-mnist`` finds it: data.root, GANFORGE_FASHION_MNIST_DIR, the data home,
/usr/share/datasets/fashion-mnist), else one of scikit-learn's bundled digits. The input is the
target's binary silhouette: pixels above ``threshold``, holes filled, white on black.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from ganforge.config import Strict
from ganforge.data import DATASETS
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.paired import ArrayPairs, PairedDataset, hwc


@dataclass(frozen=True)
class Silhouette:
    """The input of ``silhouettes``: 255 where the grey target exceeds ``threshold`` or is enclosed by such pixels."""

    threshold: int
    scale: int = 1

    def channels(self, target_channels: int) -> int:
        return 1

    def __call__(self, target: np.ndarray) -> np.ndarray:
        grey = target.max(axis=-1)  # any bright channel counts as the object
        mask = (grey > self.threshold).astype(np.uint8)
        outside = np.pad(mask, 1)  # flood the background from the border; what it cannot reach is a hole
        cv2.floodFill(outside, None, (0, 0), 2)
        return hwc(np.where(outside[1:-1, 1:-1] == 2, 0, 255).astype(np.uint8))


class SilhouetteOptions(Strict):
    source: Literal["auto", "fashion-mnist", "digits"] = Field(
        "auto", description="targets: Fashion-MNIST where installed (auto), else scikit-learn's digits")
    threshold: int = Field(16, ge=0, le=254, description="grey level above which a pixel belongs to the silhouette")


def _source_name(spec) -> str:
    """The data set the targets come from; auto prefers Fashion-MNIST when its files are found."""
    choice = spec.options["source"]
    if choice != "auto":
        return choice
    fashion = DATASETS.get("fashion-mnist")
    return "fashion-mnist" if fashion.files(spec).find(spec.root) is not None else "digits"


@register("silhouettes")
class Silhouettes(DataSet):
    """Silhouette mask -> image pairs from Fashion-MNIST (where installed) or the bundled digits; seconds-fast."""

    Options = SilhouetteOptions
    task = "paired"

    def locate(self, spec, fetch: bool):
        name = _source_name(spec)
        entry = DATASETS.get(name)
        source_spec = spec.model_copy(update={"name": name, "options": {}})
        return entry, source_spec, entry.locate(source_spec, fetch)

    def verify(self, found, spec) -> None:
        entry, source_spec, located = found
        if located is not None:
            entry.verify(located, source_spec)

    def read(self, found, spec) -> PairedDataset:
        entry, source_spec, located = found
        images = entry.read(located, source_spec).images[: spec.limit]
        if not len(images):
            raise DataError(f"silhouettes: {source_spec.name} has no images for data.split={spec.split}")
        derive = Silhouette(spec.options["threshold"])
        return PairedDataset(ArrayPairs(images), resolution=spec.resolution, channels=spec.channels,
                             input_channels=spec.channels, derive=derive)
