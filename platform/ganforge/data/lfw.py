"""Faces from scikit-image's bundled LFW subset, for small-data and few-shot runs.

``skimage/data/lfw_subset.npy`` holds 200 grey 25x25 crops as float64 in [0, 1]: the first 100
are faces from Labeled Faces in the Wild, the last 100 are background patches cut from the same
photos (scikit-image ships them for face / non-face classification). Only the 100 faces are used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.data.base import ImageDataset, as_nhwc_uint8
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataFilesMissing

N_FACES = 100


def lfw_subset_path() -> Path:
    """Where the installed scikit-image keeps ``lfw_subset.npy``."""
    import skimage.data

    return Path(skimage.data.__file__).parent / "lfw_subset.npy"


@register("lfw-faces")
class LfwFaces(DataSet):
    """LFW faces bundled with scikit-image: 100 grey 25x25 face crops, unlabelled (few-shot runs)."""

    def locate(self, spec, fetch: bool) -> Path:
        path = lfw_subset_path()
        if not path.is_file():  # a trimmed install (some images strip package data)
            raise DataFilesMissing(f"lfw-faces: {path} is missing from the installed scikit-image; "
                                   f"reinstall it (pip install --force-reinstall scikit-image)")
        return path

    def read(self, found: Path, spec) -> ImageDataset:
        faces = np.load(found)[:N_FACES]
        return ImageDataset(as_nhwc_uint8(faces, max_value=1.0))
