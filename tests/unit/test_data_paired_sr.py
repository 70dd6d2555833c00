"""The super-resolution pairs (``sr``, issue 12): LR = bicubic(HR) of the augmented HR, HR crops
as native pixels, the test split with Set5's butterfly and Set14's baboon, sr over a registered
image set, and bad options."""
import albumentations as A
import numpy as np
import pytest
from PIL import Image

from ganforge.config import DataSpec
from ganforge.data import DataError, build_dataset, check_data
from ganforge.data import photos as photos_module
from test_data_paired import photo_folder, scene  # the synthetic photos of the paired-data tests

pytestmark = pytest.mark.unit


def bicubic_by_hand(hr: np.ndarray, scale: int) -> np.ndarray:
    """Interior LR pixels of a bicubic (a = -0.75) downsample without antialiasing, by the formula.

    LR pixel i samples HR at scale * (i + 0.5) - 0.5, halfway between HR pixels; the cubic kernel
    weighs the four around it at distances 1.5, 0.5, 0.5, 1.5 with -0.09375, 0.59375, 0.59375, -0.09375.
    """
    kernel = np.array([-0.09375, 0.59375, 0.59375, -0.09375])
    first = scale // 2 - 2  # leftmost of the four HR pixels for LR pixel 0
    n = hr.shape[0] // scale
    rows = np.stack([np.tensordot(hr[first + scale * i + np.arange(4)].astype(float), kernel, axes=(0, 0))
                     for i in range(1, n - 1)])
    cols = np.stack([np.tensordot(rows[:, first + scale * j + np.arange(4)], kernel, axes=(1, 0))
                     for j in range(1, n - 1)], axis=1)
    return cols


@pytest.mark.parametrize("scale", [2, 4])
def test_sr_lr_is_the_bicubic_downsample_of_the_augmented_hr(tmp_path, scale):
    spec = DataSpec(name="sr", resolution=32, root=str(photo_folder(tmp_path / "p")),
                    options={"scale": scale, "crops_per_photo": 2})
    dataset = build_dataset(spec)
    assert dataset.scale == scale and dataset.input_shape == (3, 32 // scale, 32 // scale)
    dataset.set_transform(A.Compose([A.HorizontalFlip(p=0.5), A.Affine(rotate=(-10, 10), p=0.5)]))
    for i in range(6):
        x, y = dataset[i]
        hr = np.rint((y.numpy().transpose(1, 2, 0) + 1) * 127.5)
        lr = np.rint((x.numpy().transpose(1, 2, 0) + 1) * 127.5)
        expected = np.clip(np.rint(bicubic_by_hand(hr, scale)), 0, 255)
        assert np.abs(lr[1:-1, 1:-1] - expected).max() <= 1  # cv2 computes in fixed point


def test_sr_hr_crops_are_native_pixels_of_the_photo(tmp_path):
    root = photo_folder(tmp_path / "p", n=5)
    dataset = build_dataset(DataSpec(name="sr", resolution=32, root=str(root), options={"crops_per_photo": 2}))
    photo_index, top, left, size = dataset.source.windows[0]
    assert size == 32
    photo = dataset.source.photos[photo_index]
    assert np.array_equal(dataset.pair(0)[1], photo[top : top + 32, left : left + 32])


def test_sr_test_split_holds_butterfly_and_baboon_when_opencv_doc_is_there(tmp_path, monkeypatch):
    opencv = tmp_path / "opencv"
    opencv.mkdir()
    for name in ("butterfly", "baboon", "apple"):
        Image.fromarray(scene(len(name), 64, 64)).save(opencv / f"{name}.jpg")
    monkeypatch.setattr(photos_module, "OPENCV_DIR", opencv)
    dataset = build_dataset(DataSpec(name="sr", resolution=32, split="test", options={"test_crops_per_photo": 1}))
    keys = set(dataset.source.photo_keys())
    assert {"opencv/butterfly", "opencv/baboon"} <= keys and "opencv/apple" not in keys


def test_sr_over_a_registered_image_set():
    dataset = build_dataset(DataSpec(name="sr", resolution=16, limit=5, options={"source": "digits", "scale": 2}))
    assert len(dataset) == 5 and dataset.img_shape == (1, 16, 16) and dataset.input_shape == (1, 8, 8)


@pytest.mark.parametrize("options, fields, expected", [
    ({"source": "cifar11"}, {}, "not a data set"),
    ({"source": "silhouettes"}, {}, "is a paired data set"),
    ({"scale": 4}, {"resolution": 30}, "not a multiple of options.scale=4"),
])
def test_sr_bad_options_are_clear_errors(options, fields, expected):
    with pytest.raises(DataError, match=expected):
        check_data(DataSpec(name="sr", options=options, **fields))
