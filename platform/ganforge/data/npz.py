"""Images saved with ``numpy.savez``: the quickest way to bring any array data set to ganforge.

The file (``data.root``) holds ``images``, uint8 [N, H, W] or [N, H, W, C] with C 1 or 3, and
optionally ``labels`` (int [N]) and ``class_names`` (str [K]). Loaded without pickle. The check
before a run reads only the zip directory and each array's .npy header (shape and dtype).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.sources import root_path

_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
_FIX = "save it again with numpy.savez(PATH, images=uint8 [N,H,W(,C)], labels=..., class_names=...)"


def npy_header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of array ``name`` in an open .npz archive, from its .npy header only."""
    with archive.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        if version not in _HEADER_READERS:
            raise ValueError(f"{name}.npy has .npy format version {version}, which this check does not read")
        shape, _, dtype = _HEADER_READERS[version](f)
    return shape, dtype


def _layout_problem(arrays: dict[str, tuple[tuple[int, ...], np.dtype]]) -> str | None:
    """What is wrong with the arrays' shapes and dtypes, or None."""
    if "images" not in arrays:
        return f"has no array 'images' (it holds: {', '.join(arrays) or 'nothing'})"
    (shape, dtype), n = arrays["images"], arrays["images"][0][0] if arrays["images"][0] else 0
    if dtype != np.uint8:
        return f"'images' must be uint8 (0..255), not {dtype}"
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[3] not in (1, 3)):
        return f"'images' has shape {shape}; expected [N, H, W] or [N, H, W, C] with C 1 or 3"
    if "labels" in arrays and (arrays["labels"][0] != (n,) or arrays["labels"][1].kind not in "iu"):
        return f"'labels' is {arrays['labels'][1]} {arrays['labels'][0]}; expected integers of shape ({n},)"
    object_arrays = [k for k, (_, dtype) in arrays.items() if dtype.hasobject]
    if object_arrays:
        return f"{', '.join(object_arrays)} hold Python objects (pickled), which ganforge does not load"
    return None


def check_npz(path: Path) -> None:
    """DataError unless ``path`` is an .npz whose arrays have the shapes and dtypes ganforge reads."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n[: -len(".npy")] for n in archive.namelist() if n.endswith(".npy")]
            arrays = {name: npy_header(archive, name) for name in names}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # not a zip, cut short, bad header
        raise DataError(f"npz: {path} is not a readable .npz file ({type(err).__name__}: {err}); {_FIX}") from None
    problem = _layout_problem(arrays)
    if problem:
        raise DataError(f"npz: {path} {problem}; {_FIX}")


@register("npz")
class Npz(DataSet):
    """Arrays in a .npz file (data.root): uint8 `images` [N,H,W(,C)], optional `labels`, `class_names`."""

    def locate(self, spec, fetch: bool) -> Path:
        return root_path(spec, "file", "an .npz file")

    def verify(self, found: Path, spec) -> None:
        check_npz(found)

    def read(self, found: Path, spec) -> ImageDataset:
        try:
            with np.load(found, allow_pickle=False) as arrays:
                images = arrays["images"][: spec.limit]
                labels = arrays["labels"][: spec.limit] if "labels" in arrays else None
                names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else None
        except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # damaged inside (CRC, data cut)
            raise DataError(f"npz: {found} is not a readable .npz file ({type(err).__name__}: {err}); {_FIX}") from None
        return ImageDataset(images, labels=labels, class_names=names)
