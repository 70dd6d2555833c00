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

_TRIES = 8  # candidate windows per crop; the first with enough texture wins (else the busiest)
_SETUP = "run scripts/setup_photos.sh (Debian photos) or point data.root at a folder of photos"


class CropOptions(Strict):
    """Options shared by the photo-crop sets."""

    crops_per_photo: int = Field(100, ge=1, description="crops drawn from each training photo")
    test_crops_per_photo: int = Field(8, ge=1, description="crops drawn from each held-out photo (data.split=test)")
    seed: int = Field(0, description="seed of the crop windows (the same crops for one seed)")
    min_std: float = Field(8.0, ge=0, description="a crop whose grey standard deviation is below this is redrawn (up to 8 times): no blank sky")


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


def large_enough(photos: list[Photo], side: int, spec) -> list[Photo]:
    """The photos whose short side is at least ``side`` (header reads only); DataError if none."""
    sizes = {p.key: p.size() for p in photos}
    kept = [p for p in photos if min(sizes[p.key]) >= side]
    if not kept:
        largest = max(min(s) for s in sizes.values())
        raise DataError(f"{spec.name}: data.resolution={spec.resolution} needs photos at least {side} px on "
                        f"their short side; the largest {spec.split} photo has {largest} px. Lower data.resolution "
                        f"(--set data.resolution={largest}) or {_SETUP}")
    if len(kept) < len(photos):
        small = ", ".join(p.key for p in photos if p not in kept)
        warnings.warn(f"{spec.name}: skipping {len(photos) - len(kept)} photos smaller than {side} px: {small}",
                      DataWarning, stacklevel=2)
    return kept


def _texture(window: np.ndarray) -> float:
    step = max(1, window.shape[0] // 32)  # a strided view: the std of ~1,000 pixels is enough
    return float(window[::step, ::step].std())


def draw_window(photo: np.ndarray, key: str, k: int, side: int, max_zoom: float, options) -> tuple[int, int, int]:
    """(top, left, size) of crop ``k`` of ``photo``: size in [side, side * max_zoom], log-uniform."""
    rng = np.random.default_rng(derive_seed(options["seed"], key, k))
    h, w = photo.shape[:2]
    best, best_texture = None, -1.0
    for _ in range(_TRIES):
        size = int(side * math.exp(rng.uniform(0.0, math.log(max_zoom)))) if max_zoom > 1 else side
        size = min(size, h, w)
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        texture = _texture(photo[top : top + size, left : left + size])
        if texture >= options["min_std"]:
            return top, left, size
        if texture > best_texture:
            best, best_texture = (top, left, size), texture
    return best


@dataclass(frozen=True)
class PhotoCrops:
    """A PairSource of square photo crops (targets only: the input is derived from them)."""

    photos: tuple[np.ndarray, ...]
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
        crop = self.photos[photo][top : top + size, left : left + size]
        if size != self.side:
            crop = cv2.resize(np.ascontiguousarray(crop), (self.side, self.side), interpolation=cv2.INTER_AREA)
            crop = crop.reshape(self.side, self.side, -1)
        return None, convert_channels(crop[None], self.channels)[0]

    def subset(self, limit: int | None) -> "PhotoCrops":
        return PhotoCrops(self.photos, self.windows[:limit], self.side, self.channels)


def read_crops(photos: list[Photo], spec, side: int, max_zoom: float) -> PhotoCrops:
    """Decode ``photos`` and draw their crop windows (interleaved: crop k of every photo, then k + 1)."""
    options = spec.options
    per_photo = options["crops_per_photo"] if spec.split == "train" else options["test_crops_per_photo"]
    arrays = [photo.decode() for photo in photos]
    windows = [(j, *draw_window(array, photo.key, k, side, max_zoom, options))
               for k in range(per_photo) for j, (photo, array) in enumerate(zip(photos, arrays))]
    channels = 3 if any(a.shape[-1] == 3 for a in arrays) else 1
    return PhotoCrops(tuple(arrays), np.asarray(windows, np.int64).reshape(-1, 4), side, channels)


def photo_keys(source: PhotoCrops, photos: list[Photo]) -> list[str]:
    """The source photo's key of every crop (which photo each pair was cut from)."""
    return [photos[int(j)].key for j in source.windows[:, 0]]


__all__ = ["CropOptions", "PhotoCrops", "large_enough", "photo_keys", "read_crops", "split_photos"]
