"""The few-shot digits target (issue 14, data/opencv_digits.py): OpenCV's digits.png sheet cut into
its 20x20 cells, interleaved by class so data.limit takes every digit; a missing file or a sheet of
the wrong size gets one error naming the file, the environment variable and the fix."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganforge.config import DataSpec
from ganforge.data import build_dataset
from ganforge.data.errors import DataError, DataFilesMissing

pytestmark = pytest.mark.unit


def sheet(tmp_path, size=(2000, 1000)):
    """A digits.png whose cell (row r, column c) holds the value r * 100 + c (mod 256) in its top-left pixel
    and the class r // 5 everywhere else, as OpenCV's sheet orders its 500 digits per class."""
    width, height = size
    pixels = np.zeros((height, width), np.uint8)
    for r in range(height // 20):
        for c in range(width // 20):
            pixels[r * 20:(r + 1) * 20, c * 20:(c + 1) * 20] = 10 * (r // 5)
            pixels[r * 20, c * 20] = (r * 100 + c) % 256
    Image.fromarray(pixels).save(tmp_path / "digits.png")
    return tmp_path


def test_cells_are_cut_in_sheet_order_and_interleaved_by_class(tmp_path):
    data = build_dataset(DataSpec(name="opencv-digits", root=str(sheet(tmp_path)), resolution=20, limit=25))
    assert len(data) == 25 and data.img_shape == (1, 20, 20) and data.num_classes == 10
    labels = [int(data[i][1]) for i in range(25)]
    assert labels == [i % 10 for i in range(25)]  # 2-3 of every digit, not 25 zeros
    images = np.stack([data.image(i) for i in range(12)])[..., 0]
    # item 10 is the second digit of class 0: sheet row 0, column 1; item 1 is class 1's first: row 5, column 0
    assert images[10, 0, 0] == 1 and images[1, 0, 0] == 500 % 256
    assert (images[1, 1:, 1:] == 10).all() and (images[7, 1:, 1:] == 70).all()


def test_a_missing_sheet_names_the_file_the_env_var_and_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_OPENCV_DIGITS_DIR", str(tmp_path / "none"))
    with pytest.raises(DataFilesMissing) as err:
        build_dataset(DataSpec(name="opencv-digits", root=str(tmp_path)))
    message = str(err.value)
    assert "digits.png" in message and "GANFORGE_OPENCV_DIGITS_DIR" in message and "data.root" in message
    assert "opencv-doc" in message and "\n" not in message


def test_a_sheet_of_the_wrong_size_is_refused(tmp_path):
    with pytest.raises(DataError, match="not OpenCV's 2000x1000 digit sheet"):
        build_dataset(DataSpec(name="opencv-digits", root=str(sheet(tmp_path, (200, 100)))))
