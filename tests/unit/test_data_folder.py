"""The `folder` data set: layouts, corrupt files, empty and missing directories."""
import warnings

import numpy as np
import pytest
from PIL import Image

from ganforge.config import DataSpec
from ganforge.data import DataError, build_dataset
from ganforge.data.folder import DataWarning

pytestmark = pytest.mark.unit


def write_images(folder, n, mode="RGB", ext="png", size=(20, 12)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for i in range(n):
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"img{i}.{ext}")


def folder_spec(root, **kw):
    return DataSpec(name="folder", root=str(root), resolution=16, **kw)


def test_flat_folder_unlabelled_rgb(tmp_path):
    write_images(tmp_path, 3, ext="png")
    write_images(tmp_path, 2, ext="JPG")
    (tmp_path / "notes.txt").write_text("not an image")
    dataset = build_dataset(folder_spec(tmp_path))
    assert len(dataset) == 5 and dataset.num_classes == 0 and dataset.img_shape == (3, 16, 16)
    x, y = dataset[4]
    assert tuple(x.shape) == (3, 16, 16) and y == 0 and -1 <= x.min() and x.max() <= 1


def test_class_subfolders_give_sorted_labels(tmp_path):
    write_images(tmp_path / "zebra", 2)
    write_images(tmp_path / "ant" / "nested", 3)
    dataset = build_dataset(folder_spec(tmp_path))
    assert dataset.class_names == ["ant", "zebra"] and dataset.num_classes == 2
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1]
    unlabelled = build_dataset(folder_spec(tmp_path, options={"class_subdirs": False}))
    assert unlabelled.num_classes == 0 and len(unlabelled) == 5


def test_grey_folder_is_one_channel_and_channels_override(tmp_path):
    write_images(tmp_path, 2, mode="L")
    assert build_dataset(folder_spec(tmp_path)).img_shape == (1, 16, 16)
    rgb = build_dataset(folder_spec(tmp_path, channels=3))
    assert rgb.img_shape == (3, 16, 16) and tuple(rgb[0][0].shape) == (3, 16, 16)


def test_limit_and_hidden_files(tmp_path):
    write_images(tmp_path, 6)
    write_images(tmp_path / ".cache", 2)
    assert len(build_dataset(folder_spec(tmp_path))) == 6
    assert len(build_dataset(folder_spec(tmp_path, limit=2))) == 2


def test_corrupt_files_skipped_with_one_warning(tmp_path):
    write_images(tmp_path, 8)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = build_dataset(folder_spec(tmp_path, max_bad_fraction=0.25))
    ours = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "broken.png" in message and "empty.jpg" in message and "2 of 10" in message
    assert len(dataset) == 8
    dataset[7]  # every kept file decodes


def test_too_many_corrupt_files_is_an_error_naming_them(tmp_path):
    write_images(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"broken\.png.*max_bad_fraction"):
        build_dataset(folder_spec(tmp_path))  # 1 of 4 > 0.01


def test_empty_folder_names_path_and_extensions(tmp_path):
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match=rf"{tmp_path}.*\.png.*\.webp"):
        build_dataset(folder_spec(tmp_path))


def test_missing_folder_names_path_and_key(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=rf"data\.root={missing} does not exist"):
        build_dataset(folder_spec(missing))


def test_folder_without_root_says_which_key(tmp_path):
    with pytest.raises(ValueError, match="data.root"):
        build_dataset(DataSpec(name="folder"))
