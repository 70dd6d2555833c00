"""Any directory of images, optionally with one sub-folder per class.

Layout: ``root/*.png`` (unlabelled) or ``root/<class>/**/*.png`` (labels from the sub-folder
names, sorted). The loader opens and verifies every file once at construction, so a corrupt file
is reported up front (one warning naming the first few) instead of crashing a worker mid-run;
more than ``data.max_bad_fraction`` of them is an error. Images are decoded per item.

The check before a run lists the files and verifies them in the loader's order only until the
loader's verdict is certain (too many bad ones already) or the first ``SAMPLE`` look fine.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from pydantic import Field

from ganforge.config import Strict
from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError, DataWarning
from ganforge.data.sources import root_path

__all__ = ["DataWarning", "EXTENSIONS", "Folder", "image_files", "list_images", "scan"]

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Modes PIL decodes as grey; anything else (RGB, RGBA, P, CMYK, ...) counts as colour.
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_NAMED = 5  # bad files named in a warning or error
SAMPLE = 32  # files the check verifies when none of them is bad
MAX_CHECKED = 2048  # the check never verifies more: past that the loader decides alone


def image_files(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursively, sorted), skipping hidden files and folders."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def list_images(root: Path, class_subdirs: bool) -> tuple[list[Path], list[int], list[str]]:
    """(files, labels, class names) of ``root``; class names are empty when unlabelled."""
    classes = sorted(d.name for d in root.iterdir()
                     if class_subdirs and d.is_dir() and not d.name.startswith(".") and image_files(d))
    if not classes:
        files = image_files(root)
        return files, [0] * len(files), []
    files, labels = [], []
    for label, name in enumerate(classes):
        found = image_files(root / name)
        files += found
        labels += [label] * len(found)
    return files, labels, classes


def unreadable(path: Path) -> tuple[str | None, bool]:
    """(why ``path`` cannot be decoded, or None; whether it is colour), from PIL's verify."""
    try:
        with Image.open(path) as image:
            image.verify()
            return None, image.mode not in _GREY_MODES
    except Exception as err:  # PIL raises many types for broken files; all mean "unreadable"
        return f"{type(err).__name__}: {err}", False


def scan(files: list[Path], limit: int | None) -> tuple[list[int], list[tuple[Path, str]], bool]:
    """Open + verify files until ``limit`` good ones: (good indices, bad (path, reason), any colour)."""
    good, bad, colour = [], [], False
    for index, path in enumerate(files):
        if limit is not None and len(good) >= limit:
            break
        reason, is_colour = unreadable(path)
        if reason is None:
            good.append(index)
            colour |= is_colour
        else:
            bad.append((path, reason))
    return good, bad, colour


def _summary(root: Path, bad: list[tuple[Path, str]], scanned: int, total: int | None = None) -> str:
    named = "; ".join(f"{path} ({reason})" for path, reason in bad[:_NAMED])
    more = f" and {len(bad) - _NAMED} more" if len(bad) > _NAMED else ""
    if total and total != scanned:  # the check stopped early: the loader would find at least these
        return f"at least {len(bad)} of {total} image files in {root} are unreadable ({scanned} checked): {named}{more}"
    return f"{len(bad)} of {scanned} image files in {root} are unreadable: {named}{more}"


def too_many_bad(root: Path, bad: list[tuple[Path, str]], scanned: int, max_fraction: float,
                 total: int | None = None) -> None:
    """Raise DataError when more than ``max_fraction`` of the files are ``bad`` (``scanned`` were verified)."""
    if bad and len(bad) / scanned > max_fraction:
        raise DataError(f"folder: {_summary(root, bad, scanned, total)}; that is more than "
                        f"data.max_bad_fraction={max_fraction}. Remove or replace them, or raise data.max_bad_fraction")


def report_bad(root: Path, bad: list[tuple[Path, str]], scanned: int, max_fraction: float) -> None:
    """Warn once about skipped files, or raise when more than ``max_fraction`` of them are bad."""
    too_many_bad(root, bad, scanned, max_fraction)
    if bad:
        warnings.warn(f"skipping {_summary(root, bad, scanned)}", DataWarning, stacklevel=2)


def sample_bad(files: list[Path], limit: int | None, max_fraction: float) -> tuple[list[tuple[Path, str]], int, bool]:
    """(bad files, files verified, verdict known) of the loader's own scan, stopped early.

    The verdict is known when the scan ends as the loader's would, or when too many are bad
    already: the loader verifies at most min(len(files), limit + bad) files, so ``bad`` over that
    is the least bad fraction it can find. Stops undecided after ``SAMPLE`` files at most
    ``max_fraction`` bad (they look fine; the loader verifies the rest) or ``MAX_CHECKED`` files.
    """
    good, bad = 0, []
    for scanned, path in enumerate(files, start=1):
        if limit is not None and good >= limit:
            return bad, scanned - 1, True
        reason, _ = unreadable(path)
        if reason is None:
            good += 1
        else:
            bad.append((path, reason))
        most = min(len(files), len(bad) + limit) if limit is not None else len(files)
        if len(bad) / most > max_fraction:
            return bad, scanned, True
        if scanned >= MAX_CHECKED or (scanned >= SAMPLE and len(bad) / scanned <= max_fraction):
            return bad, scanned, scanned == len(files)
    return bad, len(files), True


class FolderOptions(Strict):
    class_subdirs: bool = Field(True, description="label images by their sub-folder of root (false: unlabelled, all files below root)")


@dataclass(frozen=True)
class Listing:
    """What the folder holds: its image files in the loader's order, their labels, the class names."""

    root: Path
    files: list[Path]
    labels: list[int]
    classes: list[str]


@register("folder")
class Folder(DataSet):
    """Images in data.root (png/jpg/jpeg/webp/bmp); class labels from sub-folder names, if any."""

    Options = FolderOptions

    def locate(self, spec, fetch: bool) -> Listing:
        root = root_path(spec, "directory", "a folder of images")
        try:
            files, labels, classes = list_images(root, spec.options.get("class_subdirs", True))
        except OSError as err:  # a sub-folder that cannot be listed
            raise DataError(f"folder: cannot list the images in data.root={root} ({type(err).__name__}: {err}); "
                            f"fix its permissions or point data.root at another folder") from None
        if not files:
            raise DataError(f"folder: no images in data.root={root} (looked for {', '.join(EXTENSIONS)}, "
                            f"case-insensitive, in it and its sub-folders); put images there or point data.root "
                            f"at the folder that holds them (--set data.root=DIR)")
        return Listing(root, files, labels, classes)

    def verify(self, found: Listing, spec) -> None:
        bad, scanned, known = sample_bad(found.files, spec.limit, spec.max_bad_fraction)
        if known:
            too_many_bad(found.root, bad, scanned, spec.max_bad_fraction, len(found.files))

    def read(self, found: Listing, spec) -> ImageDataset:
        good, bad, colour = scan(found.files, spec.limit)
        report_bad(found.root, bad, len(good) + len(bad), spec.max_bad_fraction)
        labels = [found.labels[i] for i in good] if found.classes else None
        return ImageDataset(paths=[found.files[i] for i in good], labels=labels, class_names=found.classes,
                            resolution=spec.resolution, channels=3 if colour else 1)
