"""scikit-learn's bundled handwritten digits: always available, no files to fetch or check."""
from __future__ import annotations

from ganforge.data.base import ImageDataset, as_nhwc_uint8
from ganforge.data.entry import DataSet, register


@register("digits")
class Digits(DataSet):
    """Handwritten digits bundled with scikit-learn: 1,797 8x8 grey images (16 levels), 10 classes."""

    def read(self, found, spec) -> ImageDataset:
        from sklearn.datasets import load_digits  # imported here: sklearn.datasets costs ~1.5 s

        bunch = load_digits()
        images = as_nhwc_uint8(bunch.images, max_value=16.0)  # pixel values are 0..16
        return ImageDataset(images, labels=bunch.target, class_names=[str(d) for d in range(10)])
