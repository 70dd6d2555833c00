"""CIFAR-10 and CIFAR-100 from their "python version" pickle batches.

The batches are Python-2 pickles of dicts holding numpy arrays. They are read with an unpickler
that only resolves the numpy names those files use, so a tampered batch cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ganforge.config import Strict
from ganforge.data import DATASETS
from ganforge.data.base import ImageDataset
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


def read_batch(path: Path) -> dict[str, object]:
    """One CIFAR pickle batch as a dict with str keys (the files use bytes keys)."""
    with open(path, "rb") as f:
        raw = _NumpyOnlyUnpickler(f, encoding="bytes").load()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def load_cifar(files: FileSet, spec, batches: list[str], meta: str, label_key: str,
               names_key: str) -> ImageDataset:
    """The CIFAR ``batches`` (file names) as one labelled 32x32 RGB ImageDataset."""
    found = files.locate(spec.root, spec.download)
    images, labels = [], []
    for batch in batches:
        content = read_batch(found[batch])
        images.append(np.asarray(content["data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(content[label_key], np.int64))
    class_names = _names(read_batch(found[meta])[names_key])
    return ImageDataset(np.concatenate(images)[: spec.limit], labels=np.concatenate(labels)[: spec.limit],
                        class_names=class_names)


_CIFAR10_SPLITS = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


@DATASETS.register("cifar10")
def cifar10(spec) -> ImageDataset:
    """CIFAR-10: 60,000 32x32 colour images, 10 classes (cifar-10-batches-py/ in data.root)."""
    batches = _CIFAR10_SPLITS[spec.split]
    files = FileSet("cifar10", tuple((n,) for n in [*batches, "batches.meta"]),
                    subdirs=("cifar-10-batches-py",), download=torchvision_download("CIFAR10"))
    return load_cifar(files, spec, batches, "batches.meta", "labels", "label_names")


class Cifar100Options(Strict):
    labels: Literal["fine", "coarse"] = Field("fine", description="100 fine classes or 20 coarse superclasses")


@DATASETS.register("cifar100")
def cifar100(spec) -> ImageDataset:
    """CIFAR-100: 60,000 32x32 colour images, 100 classes (cifar-100-python/ in data.root)."""
    kind = spec.options.get("labels", "fine")
    files = FileSet("cifar100", ((spec.split,), ("meta",)), subdirs=("cifar-100-python",),
                    download=torchvision_download("CIFAR100"))
    return load_cifar(files, spec, [spec.split], "meta", f"{kind}_labels", f"{kind}_label_names")


cifar100.Options = Cifar100Options
