"""MNIST and Fashion-MNIST from the standard IDX files (plain or gzipped).

IDX: two zero bytes, a type code, the number of dimensions, then each dimension as a big-endian
int32 and the values. The header alone gives the file's exact size, so a damaged file is found
without reading it: a gzipped file's last four bytes hold its uncompressed size (mod 2**32).
Fashion-MNIST is found without configuration where Debian's package ``dataset-fashion-mnist``
installs it (/usr/share/datasets/fashion-mnist; scripts/setup_data.sh).
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from ganforge.data.base import ImageDataset
from ganforge.data.entry import DataSet, register
from ganforge.data.errors import DataError
from ganforge.data.sources import FileSet, torchvision_download

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}
_GZIP_MAGIC = b"\x1f\x8b"

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def idx_layout(head: bytes, path: Path) -> tuple[np.dtype, tuple[int, ...], int]:
    """(dtype, shape, data offset) from the first bytes of an IDX file; DataError if they are not one."""
    if not head:
        raise DataError(f"{path} is empty")
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (magic number {head[:4].hex() or 'missing'}, "
                        f"expected 0000 then a type code such as 08)")
    ndim, offset = head[3], 4 + 4 * head[3]
    if len(head) < offset:
        raise DataError(f"{path} is truncated: {len(head)} bytes, shorter than its {offset}-byte IDX header")
    shape = tuple(int(d) for d in np.frombuffer(head, ">i4", count=ndim, offset=4))
    return np.dtype(_IDX_TYPES[head[2]]), shape, offset


def _size_error(path: Path, shape: tuple[int, ...], expected: int, size: int, packed: str = "") -> DataError:
    problem = "truncated" if size < expected else "longer than its header says"
    return DataError(f"{path} is {problem}: its IDX header says shape {shape} ({expected} bytes), "
                     f"the file has {size} bytes{packed}")


def _gzip_size(path: Path) -> int:
    """The uncompressed size (mod 2**32) a gzip file's trailer records; DataError if it is no gzip."""
    with open(path, "rb") as f:
        magic = f.read(2)
        if not magic:
            raise DataError(f"{path} is empty")
        if magic != _GZIP_MAGIC:
            raise DataError(f"{path} is not a gzip file (it ends in .gz but does not start with 1f8b)")
        f.seek(-4, 2)
        return int.from_bytes(f.read(4), "little")


def _read_head(f) -> bytes:
    """The magic number and dimensions of an open IDX file, read without reading its values."""
    head = f.read(4)
    return head + f.read(4 * head[3]) if len(head) == 4 else head


def check_idx(path: Path) -> tuple[int, ...]:
    """The shape IDX file ``path`` holds, from its header and size only; DataError if damaged."""
    gzipped = path.suffix == ".gz"
    try:
        size = _gzip_size(path) if gzipped else path.stat().st_size
        with (gzip.open if gzipped else open)(path, "rb") as f:
            head = _read_head(f)
    except EOFError as err:  # a gzip stream cut short
        raise DataError(f"{path} is truncated ({err})") from None
    except (OSError, zlib.error) as err:
        raise DataError(f"{path} cannot be read ({type(err).__name__}: {err})") from None
    dtype, shape, offset = idx_layout(head, path)
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if size != (expected % 2**32 if gzipped else expected):
        raise _size_error(path, shape, expected, size, " when decompressed (its gzip trailer)" if gzipped else "")
    return shape


def read_idx(path: Path) -> np.ndarray:
    """The array stored in IDX file ``path`` (``.gz`` is decompressed); bad files raise DataError."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except EOFError as err:
        raise DataError(f"{path} is truncated ({err})") from None
    except (OSError, zlib.error) as err:
        raise DataError(f"{path} cannot be read ({type(err).__name__}: {err})") from None
    dtype, shape, offset = idx_layout(data, path)
    expected = offset + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise _size_error(path, shape, expected, len(data))
    return np.frombuffer(data, dtype, offset=offset).reshape(shape)


class IdxSet(DataSet):
    """An images + labels IDX pair per split; subclasses name the set and where it is looked for."""

    name: ClassVar[str] = ""
    where: ClassVar[dict] = {}  # FileSet keywords: subdirs, env_vars, system_dirs, download, setup
    class_names: ClassVar[tuple[str, ...]] = ()

    def files(self, spec) -> FileSet:
        """The FileSet of ``spec.split``'s images and labels files (plain or .gz)."""
        prefix = _SPLIT_PREFIX[spec.split]
        stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        return FileSet(self.name, tuple((stem, stem + ".gz") for stem in stems), **self.where)

    def locate(self, spec, fetch: bool) -> dict[str, Path] | None:
        return self.files(spec).locate(spec.root, spec.download, fetch)

    def verify(self, found: dict[str, Path], spec) -> None:
        files = self.files(spec)
        images_path, labels_path = found.values()
        try:
            images, labels = check_idx(images_path), check_idx(labels_path)
        except DataError as err:
            raise files.damaged_error(str(err)) from None
        if len(images) != 3 or len(labels) != 1 or images[0] != labels[0]:
            raise files.damaged_error(f"{images_path} holds shape {images} and {labels_path} shape {labels} "
                                      f"(expected [N, H, W] images and N labels)")

    def read(self, found: dict[str, Path], spec) -> ImageDataset:
        images_path, labels_path = found.values()
        images, labels = read_idx(images_path), read_idx(labels_path)
        keep = slice(0, spec.limit)  # before resizing: a small run need not resize 60,000 images
        return ImageDataset(images[keep], labels=labels[keep], class_names=self.class_names)


@register("fashion-mnist")
class FashionMnist(IdxSet):
    """Fashion-MNIST: 70,000 28x28 grey clothing images, 10 classes (IDX files; Debian dataset-fashion-mnist)."""

    name = "fashion-mnist"
    class_names = FASHION_CLASSES
    where = {"subdirs": ("FashionMNIST/raw",), "env_vars": ("GANFORGE_FASHION_MNIST_DIR",),
             "system_dirs": ("/usr/share/datasets/fashion-mnist",),
             "download": torchvision_download("FashionMNIST"),
             "setup": "on Debian/Ubuntu, scripts/setup_data.sh installs them"}


@register("mnist")
class Mnist(IdxSet):
    """MNIST: 70,000 28x28 grey handwritten digits, 10 classes (IDX files in data.root)."""

    name = "mnist"
    class_names = tuple(str(d) for d in range(10))
    where = {"subdirs": ("MNIST/raw",), "download": torchvision_download("MNIST")}
