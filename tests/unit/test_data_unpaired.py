"""The unpaired task's data contract (data/unpaired*.py): two domains whose items pair A in order with
a reproducibly drawn B, each registered two-domain set's layout and held-out split, and one clear
error line naming the file or folder and the flag when data is missing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataSpec
from ganforge.data import DataError, build_dataset, check_data

pytestmark = pytest.mark.unit


def spec(name: str, **extra) -> DataSpec:
    return DataSpec(name=name, resolution=extra.pop("resolution", 8), **extra)


def test_items_pair_a_in_order_with_a_partner_drawn_from_seed_and_epoch():
    from ganforge.data.base import ImageDataset
    from ganforge.data.unpaired import UnpairedDataset

    a = ImageDataset(np.arange(3, dtype=np.uint8).reshape(3, 1, 1).repeat(4, 1).repeat(4, 2) * 50)
    b = ImageDataset(np.arange(7, dtype=np.uint8).reshape(7, 1, 1).repeat(4, 1).repeat(4, 2) * 30)
    pairs = UnpairedDataset(a, b)
    assert len(pairs) == 7
    assert [int(pairs[i][0][0, 0, 0] * 127.5 + 127.5 + 0.5) for i in range(7)] == [0, 50, 100, 0, 50, 100, 0]
    first = [pairs.partner(i) for i in range(7)]
    assert [int(pairs[i][1][0, 0, 0] * 127.5 + 127.5 + 0.5) // 30 for i in range(7)] == first
    assert len(set(first)) > 1  # drawn, not B in order
    pairs.set_epoch(1)
    assert [pairs.partner(i) for i in range(7)] != first
    pairs.set_epoch(0)
    assert [pairs.partner(i) for i in range(7)] == first  # reproducible: a resumed run sees the same
    pairs.seed = 5
    assert [pairs.partner(i) for i in range(7)] != first and a.seed != b.seed  # each domain its own draws


def test_digits_inverted_holds_out_every_tenth_image_and_inverts_b():
    from sklearn.datasets import load_digits

    train, test = build_dataset(spec("digits-inverted")), build_dataset(spec("digits-inverted", split="test"))
    assert (len(train.a), len(train.b), len(test.a), len(test.b)) == (809, 809, 90, 89)
    digits = np.rint(load_digits().images * 255 / 16).astype(np.uint8)
    held = digits[9::10]  # at 8 px, the data set's own size: the images themselves
    assert np.array_equal(test.a.images[..., 0], held[0::2]) and np.array_equal(test.b.images[..., 0], 255 - held[1::2])


def test_two_datasets_takes_class_subsets_of_one_labelled_set():
    options = {"a": {"name": "digits", "classes": [0], "held_out": "every-10th"},
               "b": {"name": "digits", "classes": ["1"], "held_out": "every-10th"}}
    pairs = build_dataset(spec("two-datasets", options=options))
    assert set(pairs.a.labels) == {0} and set(pairs.b.labels) == {1} and pairs.shape_a == pairs.shape_b == (1, 8, 8)
    with pytest.raises(DataError, match="classes \\[12\\] do not exist"):
        build_dataset(spec("two-datasets", options={**options, "b": {"name": "digits", "classes": [12]}}))
    with pytest.raises(DataError, match="'silhouettes' is a paired data set"):
        check_data(spec("two-datasets", options={**options, "b": {"name": "silhouettes"}}))


def test_two_datasets_takes_a_folder_as_a_domain(tmp_path):
    write(tmp_path / "photos", ["1.png", "2.png"], mode="RGB")
    options = {"a": {"name": "folder", "root": str(tmp_path / "photos")}, "b": {"name": "digits"}}
    pairs = build_dataset(spec("two-datasets", options=options, channels=3))
    assert (len(pairs.a), pairs.shape_a, pairs.shape_b) == (2, (3, 8, 8), (3, 8, 8))
    assert pairs[1][0].shape == pairs[1][1].shape == torch.Size([3, 8, 8])


def test_digits_sources_reads_opencv_s_sheet_with_labels_from_its_rows():
    from ganforge.data.unpaired_digits import OPENCV_DIGITS, opencv_digits

    if not Path(OPENCV_DIGITS).is_file():  # the missing-file error is the test's other half
        with pytest.raises(DataError, match="digits_png"):
            opencv_digits(OPENCV_DIGITS)
        return
    sheet = opencv_digits(OPENCV_DIGITS)
    assert sheet.images.shape == (5000, 20, 20, 1) and np.bincount(sheet.labels).tolist() == [500] * 10
    assert sheet.labels[0] == 0 and sheet.labels[-1] == 9


def test_missing_data_is_one_line_naming_the_file_and_the_flag(tmp_path):
    gone = str(tmp_path / "nowhere" / "digits.png")
    for name, options, named in (("digits-sources", {"source": "opencv", "digits_png": gone}, gone),
                                 ("two-folders", None, str(tmp_path / "none"))):
        extra = {"options": options} if options else {"root": str(tmp_path / "none")}
        with pytest.raises(DataError) as err:
            check_data(spec(name, **extra))
        message = str(err.value)
        assert "\n" not in message and named in message and "--set data." in message, message


def write(folder: Path, names: list[str], mode: str = "L") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new(mode, (12, 10), color=40 * i if mode == "L" else (40 * i, 0, 0)).save(folder / name)


def test_two_folders_reads_cyclegan_s_layout_and_the_plain_one(tmp_path):
    write(tmp_path / "cg" / "trainA", ["1.png", "2.png", "3.png"])
    write(tmp_path / "cg" / "trainB", ["x.jpg", "y.jpg"], mode="RGB")
    write(tmp_path / "cg" / "testA", ["t.png"])
    write(tmp_path / "cg" / "testB", ["u.png"], mode="RGB")
    pairs = build_dataset(spec("two-folders", root=str(tmp_path / "cg")))
    assert (len(pairs.a), len(pairs.b), pairs.shape_a, pairs.shape_b) == (3, 2, (1, 8, 8), (3, 8, 8))
    test = build_dataset(spec("two-folders", root=str(tmp_path / "cg"), split="test"))
    assert (len(test.a), len(test.b)) == (1, 1)
    write(tmp_path / "plain" / "A", ["1.png"])
    write(tmp_path / "plain" / "B", ["1.png", "2.png"])
    a, b = build_dataset(spec("two-folders", root=str(tmp_path / "plain"), channels=3))[1]
    assert a.shape == b.shape == torch.Size([3, 8, 8])
    with pytest.raises(DataError, match="data.split=test needs .*testA"):
        check_data(spec("two-folders", root=str(tmp_path / "plain"), split="test"))


def test_two_folders_refuses_an_empty_domain_and_unreadable_files(tmp_path):
    write(tmp_path / "A", ["1.png"])
    (tmp_path / "B").mkdir()
    with pytest.raises(DataError, match=f"no images in {tmp_path / 'B'}"):
        check_data(spec("two-folders", root=str(tmp_path)))
    (tmp_path / "B" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="bad.png"):
        check_data(spec("two-folders", root=str(tmp_path), max_bad_fraction=0.0))
