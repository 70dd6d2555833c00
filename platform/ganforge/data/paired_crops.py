"""Random square crops of real photographs, fixed per seed: the pair source of edges2photos and sr.

The crop windows are drawn once, when the set is read, from (options.seed, photo key, crop
number), so one seed gives the same crops on every machine and in every worker. Crops of the
photos are interleaved (crop k of every photo before crop k + 1 of any), so ``data.limit`` keeps
a few crops of every photo rather than all crops of the first ones. Photos are decoded once and
held in memory (about 350 MB with every Debian photo installed; 15 MB with the pip ones alone).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from pydantic import Field

from ganforge.config import Strict
from ganforge.data.base import convert_channels
from ganforge.data.errors import DataError, DataWarning
from ganforge.data.folder import image_files
from ganforge.data.photos import Photo, folder_photos, installed_photos
from ganforge.data.sources import root_path
from ganforge.noise import derive_seed

_TRIES = 8  # candidate windows per crop; the first that scores enough wins (else the best scored)
PROBE = 64  # candidates are scored on a strided view of about this side: 20x cheaper than resizing 1024 px
_SETUP = "run scripts/setup_photos.sh (Debian photos) or point data.root at a folder of photos"


class CropOptions(Strict):
    """Options shared by the photo-crop sets."""

    crops_per_photo: int = Field(100, ge=1, description="crops drawn from each training photo")
    test_crops_per_photo: int = Field(8, ge=1, description="crops drawn from each held-out photo (data.split=test)")
    seed: int = Field(0, description="seed of the crop windows (the same crops for one seed)")


def split_photos(spec) -> list[Photo]:
    """The photos of ``spec.split``: data.root's images when it is set, else the installed ones."""
    if spec.root:
        root = root_path(spec, "directory", "a folder of photos")
        photos = folder_photos(image_files(root), root)
        where = f"data.root={root}"
    else:
        photos, where = installed_photos(), "the installed packages"
    chosen = [p for p in photos if p.split == spec.split]
    if not chosen:
        raise DataError(f"{spec.name}: no {spec.split} photos in {where} ({len(photos)} photos in all, the "
                        f"held-out split is fixed by photo); {_SETUP}")
    return chosen


def large_enough(photos: list[Photo], side: int, spec, warn: bool = False) -> list[Photo]:
    """The photos whose short side is at least ``side`` (header reads only); DataError if none.

    ``warn``: name the photos left out (the loader does; the check would repeat it)."""
    sizes = {p.key: p.size() for p in photos}
    kept = [p for p in photos if min(sizes[p.key]) >= side]
    if not kept:
        largest = max(min(s) for s in sizes.values())
        raise DataError(f"{spec.name}: data.resolution={spec.resolution} needs photos at least {side} px on "
                        f"their short side; the largest {spec.split} photo has {largest} px. Lower data.resolution "
                        f"(--set data.resolution={largest}) or {_SETUP}")
    if warn and len(kept) < len(photos):
        small = ", ".join(p.key for p in photos if p not in kept)
        warnings.warn(f"{spec.name}: skipping {len(photos) - len(kept)} photos smaller than {side} px: {small}",
                      DataWarning, stacklevel=2)
    return kept


def detail(crop: np.ndarray) -> float:
    """A crop's detail score: the mean absolute Laplacian of its grey levels.

    Large photos at native pixels are often smooth (bokeh, sky): on 96 px crops of the installed
    photos, bicubic x4 PSNR-Y has a median of 31 dB over all crops and 27 dB over those scoring at
    least 4 (DIV2K's bicubic x4 is about 28-29 dB; Set5's butterfly is 23 dB here, too).
    """
    crop = np.ascontiguousarray(crop)
    grey = crop[..., 0] if crop.shape[-1] == 1 else cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F)).mean())


def resize_square(crop: np.ndarray, side: int) -> np.ndarray:
    """A square HWC crop at ``side`` x ``side`` (area interpolation: crops are only ever shrunk)."""
    if crop.shape[0] == side:
        return crop
    small = cv2.resize(np.ascontiguousarray(crop), (side, side), interpolation=cv2.INTER_AREA)
    return small.reshape(side, side, -1)


@dataclass(frozen=True)
class Windows:
    """How crop windows are drawn: ``side`` to ``side * max_zoom`` px, scored by ``score`` on a
    strided view of about ``probe`` px (0: the window itself); a window scoring below ``threshold``
    is redrawn (no blank sky)."""

    side: int
    max_zoom: float
    score: Callable[[np.ndarray], float]
    threshold: float
    probe: int = PROBE

    def draw(self, photo: np.ndarray, seed: int, key: str, k: int) -> tuple[int, int, int]:
        """(top, left, size) of crop ``k`` of ``photo``: size log-uniform in [side, side * max_zoom]."""
        rng = np.random.default_rng(derive_seed(seed, key, k))
        h, w = photo.shape[:2]
        best, best_score = None, -1.0
        for _ in range(_TRIES):
            zoom = math.exp(rng.uniform(0.0, math.log(self.max_zoom))) if self.max_zoom > 1 else 1.0
            size = int(self.side * zoom)
            size = min(size, h, w)
            top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
            step = max(1, size // self.probe) if self.probe else 1
            score = self.score(photo[top : top + size : step, left : left + size : step])
            if score >= self.threshold:
                return top, left, size
            if score > best_score:
                best, best_score = (top, left, size), score
        return best


@dataclass(frozen=True)
class PhotoCrops:
    """A PairSource of square photo crops (targets only: the input is derived from them)."""

    photos: tuple[np.ndarray, ...]
    keys: tuple[str, ...]  # each photo's key (ganforge.data.photos)
    windows: np.ndarray  # [N, 4] int: photo index, top, left, size
    side: int  # crops are resized to side x side
    channels: int

    @property
    def input_channels(self) -> int:
        return self.channels

    def __len__(self) -> int:
        return len(self.windows)

    def get(self, index: int) -> tuple[None, np.ndarray]:
        photo, top, left, size = (int(v) for v in self.windows[index])
        crop = resize_square(self.photos[photo][top : top + size, left : left + size], self.side)
        return None, convert_channels(crop[None], self.channels)[0]

    def subset(self, limit: int | None) -> "PhotoCrops":
        return PhotoCrops(self.photos, self.keys, self.windows[:limit], self.side, self.channels)

    def photo_keys(self) -> list[str]:
        """The key of the photo each crop was cut from (which source photo every pair shows)."""
        return [self.keys[int(j)] for j in self.windows[:, 0]]


def read_crops(photos: list[Photo], spec, windows: Windows) -> PhotoCrops:
    """Decode ``photos`` and draw their crop windows (interleaved: crop k of every photo, then k + 1)."""
    options = spec.options
    per_photo = options["crops_per_photo"] if spec.split == "train" else options["test_crops_per_photo"]
    arrays = [photo.decode() for photo in photos]
    boxes = [(j, *windows.draw(array, options["seed"], photo.key, k))
             for k in range(per_photo) for j, (photo, array) in enumerate(zip(photos, arrays))]
    channels = 3 if any(a.shape[-1] == 3 for a in arrays) else 1
    return PhotoCrops(tuple(arrays), tuple(p.key for p in photos), np.asarray(boxes, np.int64).reshape(-1, 4),
                      windows.side, channels)


__all__ = ["CropOptions", "PhotoCrops", "Windows", "detail", "large_enough", "read_crops", "split_photos"]
