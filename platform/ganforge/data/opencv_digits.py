"""OpenCV's sample of handwritten digits (``digits.png`` in Debian's opencv-doc): the MNIST-style
few-shot target of the adaptation recipes (jobs/adapt/).

The file is one 2000x1000 grey image: a grid of 100 x 50 digits of 20x20 pixels, 500 per class in
class order (rows 0-4 are zeros, 5-9 ones, ...). Items are interleaved by class (item i is class
i % 10), so ``data.limit: 25`` is 2-3 images of every digit, not 25 zeros.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register
from ganforge.data.sources import FileSet

CELL, COLUMNS, ROWS, CLASSES = 20, 100, 50, 10
SHAPE = (ROWS * CELL, COLUMNS * CELL)  # (height, width) of digits.png
FILES = FileSet("opencv-digits", (("digits.png",),), subdirs=("data", "examples/data"),
                env_vars=("GANFORGE_OPENCV_DIGITS_DIR",), system_dirs=("/usr/share/doc/opencv-doc/examples/data",),
                setup="on Debian/Ubuntu: apt-get install opencv-doc (installs /usr/share/doc/opencv-doc/examples/data/digits.png)")


def cells(sheet: np.ndarray) -> np.ndarray:
    """The [5000, 20, 20] digits of the sheet, row by row (class order: 500 per class)."""
    return sheet.reshape(ROWS, CELL, COLUMNS, CELL).transpose(0, 2, 1, 3).reshape(-1, CELL, CELL)


def interleaved(count: int, per_class: int) -> np.ndarray:
    """Indices into class-ordered items taking one of each class in turn: 0, 500, 1000, ..., 1, 501, ..."""
    return np.arange(count).reshape(CLASSES, per_class).T.reshape(-1)


@register("opencv-digits")
class OpenCvDigits(DataSet):
    """OpenCV's digits.png (Debian opencv-doc): 5,000 20x20 grey handwritten digits, 10 classes, interleaved."""

    def locate(self, spec, fetch: bool) -> Path:
        found = FILES.find(spec.root)
        if found is None:
            raise FILES.missing_error(spec.root)
        return found["digits.png"]

    def verify(self, found: Path, spec) -> None:
        from PIL import Image

        try:
            with Image.open(found) as image:
                size = image.size
        except OSError as err:
            raise FILES.damaged_error(f"{found} is not a readable PNG ({err})") from None
        if size != SHAPE[::-1]:
            raise FILES.damaged_error(f"{found} is {size[0]}x{size[1]}, not OpenCV's {SHAPE[1]}x{SHAPE[0]} digit sheet")

    def read(self, found: Path, spec) -> ImageDataset:
        from PIL import Image

        with Image.open(found) as image:
            sheet = np.asarray(image.convert("L"))
        digits = cells(sheet)
        order = interleaved(len(digits), len(digits) // CLASSES)
        labels = order // (len(digits) // CLASSES)
        return ImageDataset(digits[order][..., None], labels=labels.astype(np.int64),
                            class_names=[str(d) for d in range(CLASSES)])
