"""Any directory of images, optionally with one sub-folder per class.

Layout: ``root/*.png`` (unlabelled) or ``root/<class>/**/*.png`` (labels from the sub-folder
names, sorted). Every file is opened and verified once at construction, so a corrupt file is
reported up front (one warning naming the first few) instead of crashing a worker mid-run;
more than ``data.max_bad_fraction`` of them is an error. Images are decoded per item.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image
from pydantic import Field

from ganforge.config import Strict
from ganforge.data import DATASETS
from ganforge.data.base import ImageDataset
from ganforge.data.sources import root_path

EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
# Modes PIL decodes as grey; anything else (RGB, RGBA, P, CMYK, ...) counts as colour.
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
_NAMED = 5  # bad files named in a warning or error


class DataWarning(UserWarning):
    """Something in the data was skipped; the run goes on."""


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


def scan(files: list[Path], limit: int | None) -> tuple[list[int], list[tuple[Path, str]], bool]:
    """Open + verify files until ``limit`` good ones: (good indices, bad (path, reason), any colour)."""
    good, bad, colour = [], [], False
    for index, path in enumerate(files):
        if limit is not None and len(good) >= limit:
            break
        try:
            with Image.open(path) as image:
                image.verify()
                colour |= image.mode not in _GREY_MODES
            good.append(index)
        except Exception as err:  # PIL raises many types for broken files; all mean "unreadable"
            bad.append((path, f"{type(err).__name__}: {err}"))
    return good, bad, colour


def report_bad(root: Path, bad: list[tuple[Path, str]], scanned: int, max_fraction: float) -> None:
    """Warn once about skipped files, or raise when more than ``max_fraction`` of them are bad."""
    if not bad:
        return
    named = "; ".join(f"{path} ({reason})" for path, reason in bad[:_NAMED])
    more = f" and {len(bad) - _NAMED} more" if len(bad) > _NAMED else ""
    summary = f"{len(bad)} of {scanned} image files in {root} are unreadable: {named}{more}"
    if len(bad) / scanned > max_fraction:
        raise ValueError(f"{summary}; that is more than data.max_bad_fraction={max_fraction}")
    warnings.warn(f"skipping {summary}", DataWarning, stacklevel=2)


class FolderOptions(Strict):
    class_subdirs: bool = Field(True, description="label images by their sub-folder of root (false: unlabelled, all files below root)")


@DATASETS.register("folder")
def folder(spec) -> ImageDataset:
    """Images in data.root (png/jpg/jpeg/webp/bmp); class labels from sub-folder names, if any."""
    root = root_path(spec, "directory")
    files, labels, classes = list_images(root, spec.options.get("class_subdirs", True))
    if not files:
        raise ValueError(f"no images in {root} (looked for {', '.join(EXTENSIONS)}, case-insensitive, "
                         f"in it and its sub-folders)")
    good, bad, colour = scan(files, spec.limit)
    report_bad(root, bad, len(good) + len(bad), spec.max_bad_fraction)
    return ImageDataset(paths=[files[i] for i in good], labels=[labels[i] for i in good] if classes else None,
                        class_names=classes, resolution=spec.resolution, channels=3 if colour else 1)


folder.Options = FolderOptions
