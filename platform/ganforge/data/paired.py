"""PairedDataset: (input, target) image pairs for image-to-image tasks (pix2pix, SRGAN, ...).

The paired counterpart of ``ImageDataset`` (ganforge.data.base), with the same conventions: images
stay uint8 HWC until ``__getitem__`` turns them into float32 CHW tensors in [-1, 1]; augmentation
is seeded per (seed, epoch, index), so a resumed run and any number of DataLoader workers see the
same pairs. What differs is where a pair comes from:

- stored pairs (``aligned``, ``paired-folders``): a ``PairSource`` gives both images; the one
  Albumentations pipeline runs once on both (``additional_targets``), so crops and flips coincide;
- derived pairs (``edges2photos``, ``sr``, ``silhouettes``): the source gives the target only and
  a ``Derive`` makes the input from it (Canny edges, a bicubic downsample, a mask) AFTER the
  target's augmentation. The input then has exactly the target's geometry by construction; for
  super-resolution this is the protocol: augment HR, then LR = bicubic(HR).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ganforge.data.base import ReseedableRandom, convert_channels, fit_square, to_tensor
from ganforge.noise import derive_seed

INPUT_KEY = "paired_input"  # the Albumentations additional target that carries the input image


class PairSource(Protocol):
    """Where pairs come from: native-size uint8 HWC images, the input None when it is derived."""

    channels: int  # the targets' own channel count (1 or 3)
    input_channels: int  # the stored inputs' own channel count (ignored when the input is derived)

    def __len__(self) -> int: ...

    def get(self, index: int) -> tuple[np.ndarray | None, np.ndarray]: ...

    def subset(self, limit: int | None) -> "PairSource": ...


class Derive(Protocol):
    """Makes the input of a pair from its (augmented, uint8 HWC) target."""

    scale: int  # target side / input side: 1 for translation, 2 or 4 for super-resolution

    def channels(self, target_channels: int) -> int: ...

    def __call__(self, target: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ArrayPairs:
    """Pairs held in memory: targets [N,H,W,C] uint8 and, unless derived, inputs [N,h,w,c]."""

    targets: np.ndarray
    inputs: np.ndarray | None = None

    @property
    def channels(self) -> int:
        return int(self.targets.shape[-1])

    @property
    def input_channels(self) -> int:
        return int(self.inputs.shape[-1]) if self.inputs is not None else self.channels

    def __len__(self) -> int:
        return len(self.targets)

    def get(self, index: int) -> tuple[np.ndarray | None, np.ndarray]:
        return (None if self.inputs is None else self.inputs[index]), self.targets[index]

    def subset(self, limit: int | None) -> "ArrayPairs":
        keep = slice(0, limit)
        return ArrayPairs(self.targets[keep], None if self.inputs is None else self.inputs[keep])


@dataclass(frozen=True)
class ItemPairs:
    """Pairs decoded per item: ``read(item) -> (input, target)`` for each of ``items`` (file paths...)."""

    items: Sequence[Any]
    read: Callable[[Any], tuple[np.ndarray | None, np.ndarray]]
    channels: int
    input_channels: int

    def __len__(self) -> int:
        return len(self.items)

    def get(self, index: int) -> tuple[np.ndarray | None, np.ndarray]:
        return self.read(self.items[index])

    def subset(self, limit: int | None) -> "ItemPairs":
        return ItemPairs(list(self.items)[:limit], self.read, self.channels, self.input_channels)


def as_uint8(image: np.ndarray) -> np.ndarray:
    """HWC uint8 from uint8 or from float in [0, 1] (what some Albumentations transforms return)."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def hwc(image: np.ndarray) -> np.ndarray:
    """``image`` with its channel axis (cv2 drops a single one)."""
    return image[..., None] if image.ndim == 2 else image


def widen(image: np.ndarray, channels: int) -> np.ndarray:
    """HWC ``image`` with ``channels`` (grey repeated) for augmenting beside a wider image."""
    return convert_channels(image[None], channels)[0]


def narrow(image: np.ndarray, channels: int) -> np.ndarray:
    """An augmented HWC image back at ``channels`` (uint8; RGB -> luma when it was grey)."""
    return convert_channels(hwc(as_uint8(image))[None], channels)[0]


@dataclass(frozen=True)
class Bicubic:
    """LR = bicubic downsample of HR by ``scale`` (the SRGAN protocol).

    cv2.INTER_CUBIC (a = -0.75, no antialiasing) rather than PIL's BICUBIC (a = -0.5, with an
    antialiasing support widened by the scale): neither is MATLAB's ``imresize`` (a = -0.5 WITH
    antialiasing) that SRGAN and BasicSR use to make LR, so LR here is a little sharper and more
    aliased than theirs and PSNR figures are not exactly comparable with the papers'. cv2 is
    chosen because it is what the rest of the data layer resizes with, and what the SR baseline
    in metrics can invert with the same call. The HR side must be a multiple of ``scale``.
    """

    scale: int

    def channels(self, target_channels: int) -> int:
        return target_channels

    def __call__(self, target: np.ndarray) -> np.ndarray:
        h, w = target.shape[:2]
        small = cv2.resize(np.ascontiguousarray(target), (w // self.scale, h // self.scale),
                           interpolation=cv2.INTER_CUBIC)
        return hwc(small)


class PairedDataset(Dataset):
    """(input, target) pairs; ``__getitem__`` gives float32 CHW tensors in [-1, 1].

    ``img_shape`` is the targets' (C, H, W) (``resolution`` square), ``input_shape`` the inputs'
    (H = W = resolution // scale). ``channels`` forces the targets' channels and
    ``input_channels`` the inputs' (None keeps what the source or ``derive`` gives).
    """

    task = "paired"
    num_classes = 0

    def __init__(self, source: PairSource, *, resolution: int, channels: int | None = None,
                 input_channels: int | None = None, derive: Derive | None = None):
        scale = derive.scale if derive is not None else 1
        if resolution % scale:
            raise ValueError(f"resolution {resolution} is not a multiple of the scale {scale}")
        self.source, self.derive, self.scale = source, derive, scale
        self.resolution = resolution
        self.channels = channels or source.channels
        natural_input = derive.channels(self.channels) if derive is not None else source.input_channels
        self.input_channels = input_channels or natural_input
        self.img_shape = (self.channels, resolution, resolution)
        self.input_shape = (self.input_channels, resolution // scale, resolution // scale)
        self.transform: Any = None
        self.seed, self.epoch = 0, 0
        self._rngs = ReseedableRandom()

    def __len__(self) -> int:
        return len(self.source)

    def _fit(self, image: np.ndarray, channels: int) -> np.ndarray:
        image = hwc(image)
        return convert_channels(fit_square(image, self.resolution)[None], channels)[0]

    def _input_of(self, target: np.ndarray) -> np.ndarray:
        return convert_channels(hwc(self.derive(as_uint8(target)))[None], self.input_channels)[0]

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Pair ``index`` as uint8 HWC (input, target), resized and converted, before augmentation."""
        stored, target = self.source.get(index)
        target = self._fit(target, self.channels)
        if self.derive is not None:
            return self._input_of(target), target
        return self._fit(stored, self.input_channels), target

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.transform is None:
            inputs, target = self.pair(index)
        elif self.derive is not None:  # augment the target, then derive the input from it
            target = self.augment(self._fit(self.source.get(index)[1], self.channels), None, index)[1]
            inputs = self._input_of(target)
        else:
            inputs, target = self.pair(index)
            inputs, target = self.augment(target, inputs, index)
        return to_tensor(inputs), to_tensor(target)

    def augment(self, target: np.ndarray, inputs: np.ndarray | None, index: int):
        """(input, target) through ONE draw of the transform, seeded for (seed, epoch, ``index``).

        One call with the input as an additional target: every random parameter (crop window,
        flip, affine matrix, noise) is drawn once and applied to both images.
        """
        numpy_rng, python_rng = self._rngs.reseed(derive_seed(self.seed, self.epoch, index))
        self.transform.set_random_state(numpy_rng, python_rng)
        if inputs is None:
            return None, self.transform(image=target)["image"]
        # Both at the wider channel count: a pixel transform's draw (a noise map) has the image's
        # shape and Albumentations applies it unchanged to the additional target.
        widths = inputs.shape[-1], target.shape[-1]
        out = self.transform(image=widen(target, max(widths)), **{INPUT_KEY: widen(inputs, max(widths))})
        return narrow(out[INPUT_KEY], widths[0]), narrow(out["image"], widths[1])

    def set_transform(self, pipeline: Any) -> None:
        """Use an Albumentations ``Compose`` (or None) on both images with the same draws.

        Registers the input as an additional image target of ``pipeline`` (idempotent).
        """
        if pipeline is not None and self.derive is None:
            pipeline.add_targets({INPUT_KEY: "image"})
        self.transform = pipeline

    def set_epoch(self, epoch: int) -> None:
        """Augmentation of the next items is drawn for ``epoch`` (with ``self.seed``)."""
        self.epoch = int(epoch)

    def configured(self, limit: int | None = None, resolution: int | None = None,
                   channels: int | None = None) -> "PairedDataset":
        """The first ``limit`` pairs at ``resolution``; ``channels`` forces both images' channels."""
        dataset = PairedDataset(self.source.subset(limit), resolution=resolution or self.resolution,
                                channels=channels or self.channels,
                                input_channels=channels or self.input_channels, derive=self.derive)
        dataset.transform, dataset.seed, dataset.epoch = self.transform, self.seed, self.epoch
        return dataset

    def __repr__(self) -> str:
        return f"PairedDataset({len(self)} pairs {self.input_shape} -> {self.img_shape}, scale {self.scale})"
