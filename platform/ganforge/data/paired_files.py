"""aligned and paired-folders: the paired image files users bring (facades, maps, edges2shoes, their own).

- ``aligned``: pix2pix's layout, A|B side by side in one file, split at the middle of its width;
  ``direction`` AtoB (input A, target B) or BtoA.
- ``paired-folders``: root/A and root/B holding files of the same names (the extension may differ).

Both read ``root/<split>`` (pix2pix's train/ and test/ folders); a root without split folders is
the train split, and data.split=test then is an error (no held-out pairs), never the train files.
Each half (or file) is centre-cropped to a square and resized to data.resolution; both images of a
pair get the same augmentation. Files are decoded per item; the check verifies a sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

from ganforge.config import Strict
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.folder import EXTENSIONS, image_files, sample_bad, unreadable
from ganforge.data.paired import ItemPairs, PairedDataset
from ganforge.data.sources import root_path

_NAMED = 5  # unmatched names listed in an error


def split_dir(spec, holding: str) -> Path:
    """data.root/<data.split> when that folder exists (pix2pix's layout); data.root itself is the
    train split of a root without split folders. A missing held-out folder is an error: evaluating
    on the training pairs must never happen silently."""
    root = root_path(spec, "directory", holding)
    if (root / spec.split).is_dir():
        return root / spec.split
    if spec.split == "train" and not any((root / s).is_dir() for s in ("train", "val", "test")):
        return root
    raise DataError(f"{spec.name}: data.split={spec.split} needs the folder {root / spec.split}, which does not exist; "
                    f"put the {spec.split} pairs there (pix2pix's layout: train/ and test/ in data.root)")


def decode(path: Path, colour: bool) -> np.ndarray:
    """One file as uint8 HWC, RGB or grey."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB" if colour else "L"))
    except OSError as err:
        raise OSError(f"cannot decode image {path}: {err}") from err
    return array[..., None] if array.ndim == 2 else array


def is_colour(paths) -> bool:
    """Whether any of ``paths`` is a colour image (header reads only)."""
    return any(unreadable(p)[1] for p in paths)


def no_images(spec, folder: Path) -> DataError:
    return DataError(f"{spec.name}: no images in {folder} (looked for {', '.join(EXTENSIONS)}, case-insensitive, "
                     f"in it and its sub-folders); put the image files there or point data.root at the folder that "
                     f"holds them (--set data.root=DIR)")


def check_sample(spec, folder: Path, files: list[Path]) -> None:
    """DataError naming the first unreadable file of a sample of ``files`` (a pair needs both halves)."""
    bad, scanned, _ = sample_bad(files, spec.limit, 0.0)  # 0.0: stop at the first bad file
    if bad:
        path, reason = bad[0]
        raise DataError(f"{spec.name}: {path} is unreadable ({reason}); pairs are never skipped, so replace "
                        f"or remove it (and its partner) in {folder}")


class AlignedOptions(Strict):
    direction: Literal["AtoB", "BtoA"] = Field("AtoB", description="AtoB: the left half is the input, the right the target")


@dataclass(frozen=True)
class SideBySide:
    """Reads one A|B file as (input, target)."""

    colour: bool
    b_to_a: bool

    def __call__(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        image = decode(path, self.colour)
        middle = image.shape[1] // 2
        a, b = image[:, :middle], image[:, middle : 2 * middle]
        return (b, a) if self.b_to_a else (a, b)


@register("aligned")
class Aligned(DataSet):
    """pix2pix's aligned pairs: A|B side by side in each image file of data.root (or data.root/<split>)."""

    Options = AlignedOptions
    task = "paired"

    def locate(self, spec, fetch: bool) -> tuple[Path, list[Path]]:
        folder = split_dir(spec, "a folder of A|B side-by-side images")
        files = image_files(folder)
        if not files:
            raise no_images(spec, folder)
        return folder, files

    def verify(self, found, spec) -> None:
        folder, files = found
        check_sample(spec, folder, files)
        with Image.open(files[0]) as image:
            width = image.width
        if width < 2:
            raise DataError(f"aligned: {files[0]} is {width} px wide and cannot hold A|B side by side; "
                            f"join each pair into one image of twice the width")

    def read(self, found, spec) -> PairedDataset:
        folder, files = found
        files = files[: spec.limit]
        channels = 3 if is_colour(files) else 1
        reader = SideBySide(channels == 3, spec.options["direction"] == "BtoA")
        return PairedDataset(ItemPairs(files, reader, channels, channels), resolution=spec.resolution,
                             channels=spec.channels, input_channels=spec.channels)


@dataclass(frozen=True)
class TwoFiles:
    """Reads the pair (A file, B file) as (input, target)."""

    colour_a: bool
    colour_b: bool

    def __call__(self, paths: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
        return decode(paths[0], self.colour_a), decode(paths[1], self.colour_b)


def by_name(folder: Path) -> dict[str, Path]:
    """{path below ``folder`` without its extension: file} of the images in ``folder``."""
    return {str(p.relative_to(folder).with_suffix("")): p for p in image_files(folder)}


def named(names: list[str]) -> str:
    """The first few of ``names`` and how many more there are."""
    more = f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
    return ", ".join(names[:_NAMED]) + more


def match(spec, a_dir: Path, b_dir: Path) -> list[tuple[Path, Path]]:
    """The (A, B) file pairs of matching names, sorted; DataError listing names found on one side only."""
    a, b = by_name(a_dir), by_name(b_dir)
    for folder, files in ((a_dir, a), (b_dir, b)):
        if not files:
            raise no_images(spec, folder)
    only_a, only_b = sorted(a.keys() - b.keys()), sorted(b.keys() - a.keys())
    if only_a or only_b:
        listed = "; ".join(f"only in {folder}: {named(names)}" for folder, names in ((a_dir, only_a), (b_dir, only_b))
                           if names)
        raise DataError(f"paired-folders: {len(only_a) + len(only_b)} files have no partner of the same name "
                        f"({listed}); every A/<name> needs a B/<name> (the extension may differ): add or remove files")
    return [(a[name], b[name]) for name in sorted(a)]


@register("paired-folders")
class PairedFolders(DataSet):
    """Pairs from data.root/A (inputs) and data.root/B (targets), matched by file name."""

    task = "paired"

    def locate(self, spec, fetch: bool) -> tuple[Path, list[tuple[Path, Path]]]:
        folder = split_dir(spec, "a folder holding A/ and B/")
        missing = [side for side in ("A", "B") if not (folder / side).is_dir()]
        if missing:
            raise DataError(f"paired-folders: {folder} has no {' and no '.join(missing)} sub-folder; put the inputs in "
                            f"{folder / 'A'} and the targets, of the same file names, in {folder / 'B'}")
        return folder, match(spec, folder / "A", folder / "B")

    def verify(self, found, spec) -> None:
        folder, pairs = found
        for side, files in (("A", [a for a, _ in pairs]), ("B", [b for _, b in pairs])):
            check_sample(spec, folder / side, files)

    def read(self, found, spec) -> PairedDataset:
        folder, pairs = found
        pairs = pairs[: spec.limit]
        colour_a, colour_b = is_colour([a for a, _ in pairs]), is_colour([b for _, b in pairs])
        source = ItemPairs(pairs, TwoFiles(colour_a, colour_b), 3 if colour_b else 1, 3 if colour_a else 1)
        return PairedDataset(source, resolution=spec.resolution, channels=spec.channels, input_channels=spec.channels)
