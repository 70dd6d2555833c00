"""CIFAR-10 and CIFAR-100 from their "python version" pickle batches.

The batches are Python-2 pickles of dicts holding numpy arrays. They are read with an unpickler
that only resolves the numpy names those files use, so a tampered batch cannot run code. The
check before a run reads each batch's first and last byte (a cut-off pickle lacks its final STOP
opcode) and the few-KB meta file in full.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from ganforge.config import Strict
from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.sources import FileSet, torchvision_download

# numpy.core became numpy._core in numpy 2; the original files name the old module. Pickles
# written by Python 3 at protocol 2 (as torchvision-era tools do) spell bytes as _codecs.encode.
_ALLOWED = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


_PICKLE_STARTS = (0x80, ord("("), ord("}"))  # PROTO (protocol 2+), MARK or EMPTY_DICT (protocols 0-1)
_PICKLE_STOP = b"."  # every complete pickle ends with the STOP opcode


def check_pickle(path: Path) -> None:
    """DataError unless ``path`` begins and ends as a whole pickle does (reads two bytes)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            first = f.read(1)
            f.seek(max(size - 1, 0))
            last = f.read(1)
    except OSError as err:
        raise DataError(f"{path} cannot be read ({type(err).__name__}: {err})") from None
    if size == 0:
        raise DataError(f"{path} is empty")
    if first[0] not in _PICKLE_STARTS:
        raise DataError(f"{path} is not a CIFAR pickle batch (first byte {first.hex()}, expected 80)")
    if last != _PICKLE_STOP:
        raise DataError(f"{path} is truncated ({size} bytes; a pickle ends with 2e, this one with {last.hex()})")


def read_batch(path: Path) -> dict[str, object]:
    """One CIFAR pickle batch as a dict with str keys (the files use bytes keys); DataError if damaged."""
    try:
        with open(path, "rb") as f:
            raw = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DataError(f"{path} cannot be unpickled as a CIFAR batch ({type(err).__name__}: {err})") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path} holds a {type(raw).__name__}, not a CIFAR batch (a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def batch_entry(content: dict[str, object], key: str, path: Path) -> object:
    """``content[key]``, or a DataError naming the file and the keys it has."""
    if key not in content:
        raise DataError(f"{path} has no {key!r} entry (it holds: {', '.join(map(str, content)) or 'nothing'})")
    return content[key]


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _images(content: dict[str, object], path: Path) -> np.ndarray:
    data = np.asarray(batch_entry(content, "data", path), np.uint8)
    if data.size % (3 * 32 * 32):
        raise DataError(f"{path}: 'data' has {data.size} values, not a multiple of 3x32x32")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


class CifarSet(DataSet):
    """CIFAR batches of one split plus a meta file; subclasses say which files and keys."""

    name: ClassVar[str] = ""
    meta: ClassVar[str] = ""
    subdir: ClassVar[str] = ""
    torchvision_class: ClassVar[str] = ""

    def batches(self, spec) -> list[str]:
        """File names of ``spec.split``'s batches."""
        raise NotImplementedError

    def keys(self, spec) -> tuple[str, str]:
        """(label key in a batch, class-name key in the meta file) for ``spec``."""
        raise NotImplementedError

    def files(self, spec) -> FileSet:
        """The FileSet of ``spec.split``'s batches and the meta file."""
        return FileSet(self.name, tuple((n,) for n in [*self.batches(spec), self.meta]), subdirs=(self.subdir,),
                       download=torchvision_download(self.torchvision_class))

    def locate(self, spec, fetch: bool) -> dict[str, Path] | None:
        return self.files(spec).locate(spec.root, spec.download, fetch)

    def verify(self, found: dict[str, Path], spec) -> None:
        try:
            for name in self.batches(spec):
                check_pickle(found[name])
            check_pickle(found[self.meta])
            self.class_names(found, spec)  # the meta file is a few KB: read in full
        except DataError as err:
            raise self.files(spec).damaged_error(str(err)) from None

    def class_names(self, found: dict[str, Path], spec) -> list[str]:
        """The class names the meta file holds for ``spec``'s labels."""
        path = found[self.meta]
        return _names(batch_entry(read_batch(path), self.keys(spec)[1], path))

    def read(self, found: dict[str, Path], spec) -> ImageDataset:
        try:
            return self._read(found, spec)
        except DataError as err:
            raise self.files(spec).damaged_error(str(err)) from None

    def _read(self, found: dict[str, Path], spec) -> ImageDataset:
        images, labels = [], []
        for batch in self.batches(spec):
            content = read_batch(found[batch])
            images.append(_images(content, found[batch]))
            labels.append(np.asarray(batch_entry(content, self.keys(spec)[0], found[batch]), np.int64))
        return ImageDataset(np.concatenate(images)[: spec.limit], labels=np.concatenate(labels)[: spec.limit],
                            class_names=self.class_names(found, spec))


_CIFAR10_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


@register("cifar10")
class Cifar10(CifarSet):
    """CIFAR-10: 60,000 32x32 colour images, 10 classes (cifar-10-batches-py/ in data.root)."""

    name, meta, subdir, torchvision_class = "cifar10", "batches.meta", "cifar-10-batches-py", "CIFAR10"

    def batches(self, spec) -> list[str]:
        return _CIFAR10_SPLITS[spec.split]

    def keys(self, spec) -> tuple[str, str]:
        return "labels", "label_names"


class Cifar100Options(Strict):
    labels: Literal["fine", "coarse"] = Field("fine", description="100 fine classes or 20 coarse superclasses")


@register("cifar100")
class Cifar100(CifarSet):
    """CIFAR-100: 60,000 32x32 colour images, 100 classes (cifar-100-python/ in data.root)."""

    Options = Cifar100Options
    name, meta, subdir, torchvision_class = "cifar100", "meta", "cifar-100-python", "CIFAR100"

    def batches(self, spec) -> list[str]:
        return [spec.split]

    def keys(self, spec) -> tuple[str, str]:
        kind = spec.options.get("labels", "fine")
        return f"{kind}_labels", f"{kind}_label_names"
