"""MNIST and Fashion-MNIST from the standard IDX files (plain or gzipped).

IDX: two zero bytes, a type code, the number of dimensions, then each dimension as a big-endian
int32 and the values. Fashion-MNIST is found without configuration where Debian's package
``dataset-fashion-mnist`` installs it (/usr/share/datasets/fashion-mnist; scripts/setup_data.sh).
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ganforge.data import DATASETS
from ganforge.data.base import ImageDataset
from ganforge.data.sources import FileSet, torchvision_download

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def read_idx(path: Path) -> np.ndarray:
    """The array stored in IDX file ``path`` (``.gz`` is decompressed); bad files raise ValueError."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path}: IDX header says shape {shape} ({expected} bytes), file has {len(data)} bytes")
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape)


def idx_files(name: str, split: str, **where) -> FileSet:
    """The FileSet of the images + labels IDX pair of ``split`` (train / test)."""
    prefix = _SPLIT_PREFIX[split]
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    return FileSet(name, tuple((stem, stem + ".gz") for stem in stems), **where)


def load_idx_set(spec, files: FileSet, class_names) -> ImageDataset:
    """Images and labels of ``files`` as a labelled 1-channel ImageDataset."""
    found = files.locate(spec.root, spec.download)
    images_path, labels_path = found.values()
    images, labels = read_idx(images_path), read_idx(labels_path)
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    keep = slice(0, spec.limit)  # before resizing: a small run need not resize 60,000 images
    return ImageDataset(images[keep], labels=labels[keep], class_names=class_names)


@DATASETS.register("fashion-mnist")
def fashion_mnist(spec) -> ImageDataset:
    """Fashion-MNIST: 70,000 28x28 grey clothing images, 10 classes (IDX files; Debian dataset-fashion-mnist)."""
    files = idx_files("fashion-mnist", spec.split, subdirs=("FashionMNIST/raw",),
                      env_vars=("GANFORGE_FASHION_MNIST_DIR",),
                      system_dirs=("/usr/share/datasets/fashion-mnist",),
                      download=torchvision_download("FashionMNIST"))
    return load_idx_set(spec, files, FASHION_CLASSES)


@DATASETS.register("mnist")
def mnist(spec) -> ImageDataset:
    """MNIST: 70,000 28x28 grey handwritten digits, 10 classes (IDX files in data.root)."""
    files = idx_files("mnist", spec.split, subdirs=("MNIST/raw",), download=torchvision_download("MNIST"))
    return load_idx_set(spec, files, tuple(str(d) for d in range(10)))
