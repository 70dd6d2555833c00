"""Images saved with ``numpy.savez``: the quickest way to bring any array data set to ganforge.

The file (``data.root``) holds ``images``, uint8 [N, H, W] or [N, H, W, C] with C 1 or 3, and
optionally ``labels`` (int [N]) and ``class_names`` (str [K]). Loaded without pickle.
"""
from __future__ import annotations

import numpy as np

from ganforge.data import DATASETS
from ganforge.data.base import ImageDataset
from ganforge.data.sources import root_path


@DATASETS.register("npz")
def npz(spec) -> ImageDataset:
    """Arrays in a .npz file (data.root): uint8 `images` [N,H,W(,C)], optional `labels`, `class_names`."""
    path = root_path(spec, "file")
    with np.load(path, allow_pickle=False) as arrays:
        if "images" not in arrays:
            raise ValueError(f"{path} has no array 'images' (it holds: {', '.join(arrays.files) or 'nothing'})")
        if arrays["images"].dtype != np.uint8:
            raise ValueError(f"{path}: 'images' must be uint8 (0..255), not {arrays['images'].dtype}")
        labels = arrays["labels"][: spec.limit] if "labels" in arrays else None
        names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else None
        return ImageDataset(arrays["images"][: spec.limit], labels=labels, class_names=names)
