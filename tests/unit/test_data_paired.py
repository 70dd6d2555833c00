"""Paired data sets (issue 12): shapes, one augmentation draw for both images, determinism, the
held-out split by source photo, the file layouts, and bad input (the sr set: test_data_paired_sr.py).

The photo sets are exercised on small synthetic photos in data.root (fast, the same on every
machine) and once on the photos this machine's packages carry.
"""
import re

import albumentations as A
import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ganforge.augment import build_pipeline
from ganforge.config import AugmentSpec, DataSpec
from ganforge.data import DATASETS, DataError, build_dataset, check_data
from ganforge.data import photos as photos_module
from ganforge.data.base import to_tensor
from ganforge.data.paired import PairedDataset
from ganforge.data.paired_crops import detail
from ganforge.data.paired_silhouettes import Silhouette
from ganforge.data.photos import installed_photos

pytestmark = pytest.mark.unit

PAIRED = [name for name, entry in DATASETS.items() if getattr(entry, "task", "generate") == "paired"]


# --- files written into tmp_path -----------------------------------------------------------------

def scene(seed: int, height: int = 96, width: int = 128) -> np.ndarray:
    """A synthetic 'photo': a colour gradient with random discs and bars (edges everywhere, no symmetry)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 60 + 20 * (seed % 5))], -1).astype(np.uint8)
    for _ in range(12):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(4, 20)), colour, -1)
        cv2.rectangle(image, centre, (centre[0] + 9, centre[1] + 3), colour[::-1], -1)
    return image


def photo_folder(root, n=10, size=(96, 128)):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(scene(i, *size)).save(root / f"photo{i:02d}.png")
    return root


def aligned_folder(root, n=4, same=True):
    """A|B files; ``same``: B is a copy of A (any geometric augmentation must keep them equal)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = scene(i, 48, 48)
        b = a if same else 255 - a
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / f"{i}.png")
    return root


def pair_folders(root, names_a=("x", "y", "z"), names_b=("x", "y", "z")):
    for side, names in (("A", names_a), ("B", names_b)):
        (root / side).mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            Image.fromarray(scene(i + (0 if side == "A" else 50), 40, 40)).save(root / side / f"{name}.png")
    return root


def spec_of(name, tmp_path, **fields):
    """A small spec for every paired entry; a new paired entry fails here until it gets one."""
    makers = {
        "aligned": lambda: {"root": str(aligned_folder(tmp_path / "aligned"))},
        "paired-folders": lambda: {"root": str(pair_folders(tmp_path / "pf"))},
        "edges2photos": lambda: {"options": {"crops_per_photo": 2}},
        "sr": lambda: {"options": {"crops_per_photo": 2}, "resolution": 48},
        "silhouettes": lambda: {"limit": 8},
    }
    return DataSpec(name=name, **{"resolution": 32, **makers[name](), **fields})


# --- every paired entry ------------------------------------------------------------------------

def test_paired_entries_are_registered():
    assert {"aligned", "paired-folders", "edges2photos", "sr", "silhouettes"} <= set(PAIRED)


@pytest.mark.parametrize("name", PAIRED)
def test_every_paired_set_gives_pairs_of_its_shapes_in_range(tmp_path, name):
    spec = spec_of(name, tmp_path)
    check_data(spec)
    dataset = build_dataset(spec)
    assert isinstance(dataset, PairedDataset) and dataset.task == "paired" and dataset.num_classes == 0
    c, h, w = dataset.img_shape
    assert (h, w) == (spec.resolution, spec.resolution)
    assert dataset.input_shape[1:] == (h // dataset.scale, w // dataset.scale)
    x, y = next(iter(DataLoader(dataset, batch_size=2)))
    assert x.dtype == y.dtype == torch.float32
    assert tuple(x.shape[1:]) == dataset.input_shape and tuple(y.shape[1:]) == dataset.img_shape
    for t in (x, y):
        assert -1.0 <= float(t.min()) and float(t.max()) <= 1.0 and float(t.std()) > 0
    a, b = dataset.pair(0)
    assert a.dtype == b.dtype == np.uint8 and a.shape == (*dataset.input_shape[1:], dataset.input_shape[0])
    grey = dataset.configured(limit=2, channels=1)
    assert len(grey) == 2 and grey.img_shape[0] == grey.input_shape[0] == 1


# --- one augmentation draw for both images -----------------------------------------------------

def geometric():
    return A.Compose([A.HorizontalFlip(p=0.5), A.Affine(translate_percent=(-0.1, 0.1), rotate=(-10, 10), p=0.5),
                      A.RandomResizedCrop(size=(32, 32), scale=(0.5, 1.0), p=1.0)])


@pytest.mark.parametrize("name", ["aligned", "paired-folders"])
def test_stored_pairs_get_the_same_crop_and_flip(tmp_path, name):
    if name == "aligned":
        dataset = build_dataset(DataSpec(name="aligned", resolution=32, root=str(aligned_folder(tmp_path / "a", n=6))))
    else:  # B a copy of A: the same augmentation keeps them identical
        root = tmp_path / "pf"
        for side in ("A", "B"):
            (root / side).mkdir(parents=True)
            for i in range(6):
                Image.fromarray(scene(i, 48, 48)).save(root / side / f"{i}.png")
        dataset = build_dataset(DataSpec(name="paired-folders", resolution=32, root=str(root)))
    plain = [dataset[i][1] for i in range(len(dataset))]
    dataset.set_transform(geometric())
    changed = 0
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for i in range(len(dataset)):
            x, y = dataset[i]
            assert torch.equal(x, y), (epoch, i)
            changed += not torch.equal(y, plain[i])
    assert changed >= 12  # the transform did act (most of 18 items)


def test_one_draw_for_images_of_different_channels(tmp_path):
    root = tmp_path / "pf"
    for side, mode in (("A", "L"), ("B", "RGB")):
        (root / side).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(scene(i, 32, 32)).convert(mode).save(root / side / f"{i}.png")
    dataset = build_dataset(DataSpec(name="paired-folders", resolution=32, root=str(root)))
    assert dataset.input_shape == (1, 32, 32) and dataset.img_shape == (3, 32, 32)
    dataset.set_transform(A.Compose([A.HorizontalFlip(p=1.0)]))
    for i in range(3):
        a, b = dataset.pair(i)
        x, y = dataset[i]
        assert torch.equal(y, to_tensor(b[:, ::-1])) and torch.equal(x, to_tensor(a[:, ::-1]))
    dataset.set_transform(build_pipeline(AugmentSpec(preset="blur+flip+affine")))  # a noise map of 3 channels
    assert tuple(dataset[0][0].shape) == (1, 32, 32)


def test_derived_inputs_follow_the_augmented_target(tmp_path):
    spec = DataSpec(name="edges2photos", resolution=32, root=str(photo_folder(tmp_path / "p")),
                    options={"crops_per_photo": 3})
    dataset = build_dataset(spec)
    dataset.set_transform(A.Compose([A.HorizontalFlip(p=1.0)]))
    for i in range(4):
        edges, photo = dataset.pair(i)
        x, y = dataset[i]
        assert torch.equal(y, to_tensor(photo[:, ::-1])) and torch.equal(x, to_tensor(edges[:, ::-1]))


# --- edges2photos ------------------------------------------------------------------------------

def test_edges_are_canny_of_the_grey_crop_drawn_black_on_white(tmp_path):
    root = str(photo_folder(tmp_path / "p"))
    for style, edge_value in (("black-on-white", 0), ("white-on-black", 255)):
        dataset = build_dataset(DataSpec(name="edges2photos", resolution=32, root=root,
                                         options={"crops_per_photo": 2, "edges": style}))
        edges, photo = dataset.pair(0)
        canny = cv2.Canny(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), 50, 150, L2gradient=True) > 0
        assert canny.mean() > 0.02
        assert np.array_equal(edges[..., 0] == edge_value, canny)
        assert set(np.unique(edges).tolist()) == {0, 255}


def test_photo_crops_are_fixed_per_seed_and_differ_across_seeds(tmp_path):
    root = str(photo_folder(tmp_path / "p"))

    def targets(seed):
        dataset = build_dataset(DataSpec(name="edges2photos", resolution=32, root=root,
                                         options={"crops_per_photo": 4, "seed": seed}))
        return np.stack([dataset.pair(i)[1] for i in range(len(dataset))])

    first = targets(0)
    assert np.array_equal(targets(0), first)
    other = targets(1)
    assert (other != first).reshape(len(first), -1).any(1).mean() > 0.8


def test_augmentation_is_fixed_per_seed_epoch_index_and_epochs_differ(tmp_path):
    spec = DataSpec(name="edges2photos", resolution=32, root=str(photo_folder(tmp_path / "p")),
                    options={"crops_per_photo": 2})
    dataset = build_dataset(spec)
    dataset.set_transform(build_pipeline(AugmentSpec(preset="blur+flip+affine")))
    batch = lambda: torch.stack([dataset[i][1] for i in range(len(dataset))])  # noqa: E731
    first = batch()
    assert torch.equal(batch(), first) and torch.equal(dataset[3][1], first[3])
    dataset.set_epoch(1)
    assert (batch() != first).flatten(1).any(1).float().mean() > 0.5
    dataset.set_epoch(0)
    again = build_dataset(spec)
    again.set_transform(build_pipeline(AugmentSpec(preset="blur+flip+affine")))
    assert torch.equal(torch.stack([again[i][1] for i in range(len(again))]), first)


def test_held_out_split_is_disjoint_by_source_photo(tmp_path):
    root = str(photo_folder(tmp_path / "p", n=20))
    keys = {}
    for split in ("train", "test"):
        spec = DataSpec(name="edges2photos", resolution=32, root=root, split=split, options={"crops_per_photo": 2})
        keys[split] = set(build_dataset(spec).source.photo_keys())
    assert keys["train"] and keys["test"] and not keys["train"] & keys["test"]
    assert len(keys["train"] | keys["test"]) == 20


def test_installed_photos_keep_each_scene_in_one_split_and_hold_some_out(tmp_path, monkeypatch):
    opencv = tmp_path / "opencv"  # every curated opencv-doc name, whether or not opencv-doc is installed
    opencv.mkdir()
    for name in photos_module.OPENCV:
        Image.fromarray(scene(0, 8, 8)).save(opencv / f"{name}.png")
    monkeypatch.setattr(photos_module, "OPENCV_DIR", opencv)
    photos = installed_photos()
    split_of = {}
    for photo in photos:  # two shots of one scene (a stereo pair, aero1/aero3) are named alike
        scene_name = re.sub(r"(_left|_right|_original|[LRAB]|\d)$", "", photo.key)
        assert split_of.setdefault(scene_name, photo.split) == photo.split, photo.key
    assert {"train", "test"} <= set(split_of.values())
    assert {"skimage/astronaut", "sklearn/china", "matplotlib/grace_hopper", "opencv/graf3"} <= {p.key for p in photos}


@pytest.mark.parametrize("name, option, score", [
    ("edges2photos", "min_edges", lambda edges, photo: (edges < 128).mean()),
    ("sr", "min_detail", lambda lr, photo: detail(photo)),
])
def test_crops_avoid_flat_regions(tmp_path, name, option, score):
    root = tmp_path / "half"
    root.mkdir()
    image = np.full((96, 384, 3), 128, np.uint8)  # flat on the left three quarters, busy on the right
    image[:, 288:] = np.random.default_rng(0).integers(0, 256, (96, 96, 3))
    Image.fromarray(image).save(root / "half.png")
    kept = {}
    for threshold in (0.0, {"min_edges": 0.03, "min_detail": 4.0}[option]):
        dataset = build_dataset(DataSpec(name=name, resolution=32, root=str(root), split=photos_module.hashed_split("half.png"),
                                         options={"crops_per_photo": 40, "test_crops_per_photo": 40, option: threshold}))
        kept[threshold] = np.mean([score(*dataset.pair(i)) >= (threshold or 1e-9) for i in range(len(dataset))])
    assert kept[0.0] < 0.3 and max(kept.values()) > 0.8  # 8 tries: 1 - 0.75 ** 8 of windows find the busy part


def test_limit_keeps_crops_of_every_photo(tmp_path):
    spec = DataSpec(name="edges2photos", resolution=32, root=str(photo_folder(tmp_path / "p")), limit=None,
                    options={"crops_per_photo": 5})
    dataset = build_dataset(spec)
    first = dataset.configured(limit=len(set(dataset.source.windows[:, 0].tolist())))
    assert len(set(first.source.windows[:, 0].tolist())) == len(first)  # one crop of each photo first


def test_resolution_bigger_than_the_photos_is_a_clear_error(tmp_path):
    spec = DataSpec(name="edges2photos", resolution=256, root=str(photo_folder(tmp_path / "p", size=(60, 80))))
    message = str(pytest.raises(DataError, check_data, spec).value)
    assert "data.resolution=256" in message and "60 px" in message and "--set data.resolution=60" in message
    assert str(pytest.raises(DataError, build_dataset, spec).value) == message


def test_empty_or_missing_photo_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    message = str(pytest.raises(DataError, check_data, DataSpec(name="edges2photos", root=str(tmp_path / "empty"))).value)
    assert "no train photos" in message and str(tmp_path / "empty") in message
    missing = DataSpec(name="sr", root=str(tmp_path / "nowhere"))
    assert "does not exist" in str(pytest.raises(DataError, check_data, missing).value)


# --- silhouettes, aligned, paired-folders ------------------------------------------------------

@pytest.mark.parametrize("source", ["digits", "auto"])
def test_silhouette_is_the_filled_mask_of_the_image(source):
    dataset = build_dataset(DataSpec(name="silhouettes", limit=16, options={"source": source}))
    for i in range(16):
        mask, image = dataset.pair(i)
        assert set(np.unique(mask).tolist()) <= {0, 255}
        assert (mask[image > 16] == 255).all()  # every bright pixel is inside the silhouette
        assert (mask == 255).mean() < 0.95 and (mask == 255).any()


def test_silhouette_fills_holes_and_leaves_the_background_black():
    ring = np.zeros((20, 20, 1), np.uint8)
    cv2.circle(ring, (10, 10), 6, 200, 2)  # a ring: its inside is dark but enclosed
    mask = Silhouette(threshold=16)(ring)[..., 0]
    inside = np.zeros((20, 20), np.uint8)
    cv2.circle(inside, (10, 10), 7, 1, -1)
    assert (mask[inside == 1] == 255).mean() > 0.95 and mask[10, 10] == 255
    assert (mask[:, :2] == 0).all() and mask[0, 0] == 0


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_aligned_splits_at_the_middle_of_the_width(tmp_path, direction):
    root = aligned_folder(tmp_path / "facades" / "train", n=2, same=False)
    (tmp_path / "facades" / "test").mkdir()
    Image.fromarray(np.zeros((48, 96, 3), np.uint8)).save(tmp_path / "facades" / "test" / "only.png")
    spec = DataSpec(name="aligned", resolution=48, root=str(tmp_path / "facades"), options={"direction": direction})
    dataset = build_dataset(spec)
    assert len(dataset) == 2  # root/train, not root/test
    a, b = dataset.pair(1)
    left = np.asarray(Image.open(root / "1.png"))[:, :48]
    assert np.array_equal(a if direction == "AtoB" else b, left)
    assert np.array_equal(b if direction == "AtoB" else a, 255 - left)


def test_paired_folders_match_by_name_and_list_the_unmatched(tmp_path):
    dataset = build_dataset(DataSpec(name="paired-folders", resolution=40, root=str(pair_folders(tmp_path / "ok"))))
    assert [a.stem for a, _ in dataset.source.items] == ["x", "y", "z"]
    assert np.array_equal(dataset.pair(2)[1], scene(52, 40, 40))
    bad = pair_folders(tmp_path / "bad", names_a=("x", "y", "w"), names_b=("x", "y", "v"))
    message = str(pytest.raises(DataError, check_data, DataSpec(name="paired-folders", root=str(bad))).value)
    assert "only in " + str(bad / "A") + ": w" in message and "only in " + str(bad / "B") + ": v" in message


@pytest.mark.parametrize("name, layout, expected", [
    ("aligned", lambda r: aligned_folder(r), None),  # no test/ folder: data.split=test refused
    ("paired-folders", lambda r: pair_folders(r), None),
    ("paired-folders", lambda r: (r / "A").mkdir(parents=True), "has no B sub-folder"),
    ("paired-folders", lambda r: ((r / "A").mkdir(parents=True), (r / "B").mkdir()), "no images in"),
    ("aligned", lambda r: r.mkdir(), "no images in"),
    ("aligned", lambda r: (r.mkdir(), (r / "0.png").write_bytes(b"not a png")), "is unreadable"),
])
def test_bad_file_layouts_are_clear_errors(tmp_path, name, layout, expected):
    root = tmp_path / "root"
    layout(root)
    spec = DataSpec(name=name, root=str(root), split="test" if expected is None else "train")
    expected = expected or "data.split=test needs the folder " + str(root / "test")
    message = str(pytest.raises(DataError, check_data, spec).value)
    assert expected in message and str(root) in message
    assert str(pytest.raises(DataError, build_dataset, spec).value) == message


def test_the_check_decodes_no_photo_and_reads_no_set(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the check decoded data")

    monkeypatch.setattr(photos_module.Photo, "decode", refuse)
    for name in PAIRED:
        monkeypatch.setattr(type(DATASETS.get(name)), "read", refuse)
        check_data(spec_of(name, tmp_path))
