"""ImageDataset: the one data set type every registered data set returns, and its image helpers.

Images are uint8 HWC until the last moment: resizing, channel conversion and Albumentations all
work on uint8, and only ``__getitem__`` turns one image into a float tensor in [-1, 1].
In-memory sets are resized once at construction; folder sets decode and resize per item.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ganforge.noise import derive_seed

# ITU-R 601 luma, the weights PIL's convert("L") uses, so in-memory and folder sets agree.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
PIL_MODES = {1: "L", 3: "RGB"}


def as_nhwc_uint8(images: np.ndarray, max_value: float = 255.0) -> np.ndarray:
    """``images`` ([N,H,W] or [N,H,W,C], values in [0, max_value]) as uint8 [N,H,W,C]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"expected images of shape [N,H,W] or [N,H,W,C], got {images.shape}")
    if images.dtype != np.uint8:
        images = np.clip(np.rint(images.astype(np.float32) * (255.0 / max_value)), 0, 255).astype(np.uint8)
    return images


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop a HWC image to a square, then resize it to ``size`` x ``size`` (HWC kept).

    Area interpolation when shrinking (no aliasing), bilinear when enlarging.
    """
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side]
    if side != size:
        interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        channels = image.shape[2]
        image = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interpolation)
        image = image.reshape(size, size, channels)  # cv2 drops a single channel axis
    return image


def convert_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """NHWC uint8 ``images`` with ``channels`` (1: luma, 3: grey repeated); None keeps them."""
    have = images.shape[-1]
    if channels is None or channels == have:
        return images
    if channels == 3 and have == 1:
        return np.repeat(images, 3, axis=-1)
    if channels == 1 and have == 3:
        return np.rint(images.astype(np.float32) @ _LUMA)[..., None].astype(np.uint8)
    raise ValueError(f"cannot convert images with {have} channels to {channels}")


def load_image(path: Path, channels: int, size: int) -> np.ndarray:
    """Decode one file as uint8 HWC with ``channels``, centre-cropped and resized to ``size``."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert(PIL_MODES[channels]))
    except OSError as err:
        raise OSError(f"cannot decode image {path}: {err}") from err
    return fit_square(array.reshape(*array.shape[:2], channels), size)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HWC image (uint8, or float in [0, 1] as Albumentations returns) -> float32 CHW in [-1, 1]."""
    if image.ndim == 2:
        image = image[..., None]
    # In numpy: ~3 µs an image where the same torch ops on a tiny tensor cost ~10 µs.
    array = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    array *= 1 / 127.5 if image.dtype == np.uint8 else 2.0
    array -= 1.0
    return torch.from_numpy(np.clip(array, -1.0, 1.0, out=array))


class ReseedableRandom:
    """A numpy Generator and a random.Random that are re-seeded in place for every image.

    Re-seeding in place costs ~5 µs an image where fresh ``np.random.default_rng(seed)`` and
    ``random.Random(seed)`` cost ~40 µs (creation, and slower first draws; measured on 32 px
    blur+flip+affine, whose transforms themselves take ~80 µs). ``seed`` is already a hash
    (``derive_seed``), so it can be the PCG64 state directly.
    """

    _INC = np.random.PCG64(0).state["state"]["inc"]  # any odd constant: the stream increment

    def __init__(self):
        self.numpy = np.random.Generator(np.random.PCG64(0))
        self.python = random.Random(0)

    def reseed(self, seed: int) -> tuple[np.random.Generator, random.Random]:
        """Both generators, positioned at the start of ``seed``'s stream."""
        self.numpy.bit_generator.state = {"bit_generator": "PCG64", "state": {"state": seed, "inc": self._INC},
                                          "has_uint32": 0, "uinteger": 0}
        self.python.seed(seed)
        return self.numpy, self.python


class ImageDataset(Dataset):
    """Images (uint8 NHWC array, or file paths decoded lazily) with int64 labels.

    ``img_shape`` is (C, H, W) after resizing and channel conversion; ``num_classes`` is 0 for an
    unlabelled set. Augmentation (``set_transform``) is seeded per (seed, epoch, index), so a
    resumed run and a DataLoader with any number of workers see the same augmented images.
    """

    def __init__(self, images: np.ndarray | None = None, *, paths: Sequence[Path] | None = None,
                 labels: np.ndarray | None = None, num_classes: int | None = None,
                 class_names: Sequence[str] | None = None, resolution: int | None = None,
                 channels: int | None = None):
        if (images is None) == (paths is None):
            raise ValueError("ImageDataset needs exactly one of images= or paths=")
        self.images, self.paths = None, None
        if images is not None:
            self.images = self._prepare(as_nhwc_uint8(images), resolution, channels)
            resolution, channels = self.images.shape[1], self.images.shape[3]
        else:
            if resolution is None or channels is None:
                raise ValueError("a file-backed ImageDataset needs resolution= and channels=")
            self.paths = [Path(p) for p in paths]
        n = len(self)
        self.labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, np.int64)
        if len(self.labels) != n:
            raise ValueError(f"{n} images but {len(self.labels)} labels")
        self.class_names = list(class_names) if class_names else None
        self.num_classes = self._count_classes(labels, num_classes, self.class_names)
        self.resolution, self.channels = resolution, channels
        self.img_shape = (channels, resolution, resolution)
        self.transform: Any = None
        self.seed, self.epoch = 0, 0
        self._rngs = ReseedableRandom()

    @staticmethod
    def _prepare(images: np.ndarray, resolution: int | None, channels: int | None) -> np.ndarray:
        if resolution is not None and images.shape[1:3] != (resolution, resolution):
            images = np.stack([fit_square(image, resolution) for image in images]) if len(images) \
                else np.zeros((0, resolution, resolution, images.shape[3]), np.uint8)
        return np.ascontiguousarray(convert_channels(images, channels))

    @staticmethod
    def _count_classes(labels, num_classes, class_names) -> int:
        if num_classes is not None:
            return num_classes
        if class_names:
            return len(class_names)
        return int(np.max(labels)) + 1 if labels is not None and len(labels) else 0

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.paths)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as uint8 HWC, resized and converted, before augmentation."""
        if self.images is not None:
            return self.images[index]
        return load_image(self.paths[index], self.channels, self.resolution)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.image(index)
        if self.transform is not None:
            image = self.augment(image, index)
        return to_tensor(image), int(self.labels[index])

    def augment(self, image: np.ndarray, index: int) -> np.ndarray:
        """``image`` through the transform, seeded for (``self.seed``, ``self.epoch``, ``index``)."""
        # ONE generator pair shared by all transforms, not Compose.set_random_seed: that gives
        # every transform its own generator with the same seed, so their draws coincide (two
        # p=0.5 flips then always fire together).
        numpy_rng, python_rng = self._rngs.reseed(derive_seed(self.seed, self.epoch, index))
        self.transform.set_random_state(numpy_rng, python_rng)
        return self.transform(image=image)["image"]

    def set_transform(self, pipeline: Any) -> None:
        """Use an Albumentations ``Compose`` (or None for no augmentation) in ``__getitem__``."""
        self.transform = pipeline

    def set_epoch(self, epoch: int) -> None:
        """Augmentation of the next items is drawn for ``epoch`` (with ``self.seed``)."""
        self.epoch = int(epoch)

    def configured(self, limit: int | None = None, resolution: int | None = None,
                   channels: int | None = None) -> "ImageDataset":
        """A new data set of the first ``limit`` images at ``resolution`` with ``channels``."""
        keep = slice(0, limit)
        source = {"images": self.images[keep]} if self.images is not None else {"paths": self.paths[keep]}
        dataset = ImageDataset(**source, labels=self.labels[keep], num_classes=self.num_classes,
                               class_names=self.class_names, resolution=resolution or self.resolution,
                               channels=channels or self.channels)
        dataset.transform, dataset.seed, dataset.epoch = self.transform, self.seed, self.epoch
        return dataset

    def __repr__(self) -> str:
        kind = "in memory" if self.images is not None else "files"
        return f"ImageDataset({len(self)} images {self.img_shape}, {self.num_classes} classes, {kind})"
