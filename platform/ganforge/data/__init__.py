"""Data sets: a registry of ``DataSet`` entries, ``build_dataset`` and the preflight ``check_data``.

Each module in this package registers one data set (or one family of them, e.g. the IDX sets
MNIST and Fashion-MNIST) as a ``DataSet`` (ganforge.data.entry). Its loader returns the set at its
own size; ``build_dataset`` then applies the spec's limit, resolution and channels in one place.
``check_data`` runs the same entry's cheap first half (where the files are, their headers, a
sample of images) so a driver can refuse bad input before Ray starts. Problems are ``DataError``.
A data set that takes options sets ``Options`` (a pydantic model); ``data.options`` are checked
against it.
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.data.base import ImageDataset
from ganforge.data.errors import DataError
from ganforge.registry import Registry

DATASETS = Registry("data set")


def _entry(spec):
    """(the registered DataSet ``spec`` names, ``spec`` with its options checked and defaulted)."""
    from ganforge.config import _check_options  # the spec's one options check, shared with models

    try:
        entry = DATASETS.get(spec.name)
        options = _check_options("ganforge.data.DATASETS", spec.name, spec.options)
    except KeyError as err:
        raise DataError(err.args[0]) from None
    except ValueError as err:
        raise DataError(str(err)) from None
    return entry, spec.model_copy(update={"options": options})


def check_data(spec) -> None:
    """Raise DataError unless the data set ``spec`` (a DataSpec) names looks loadable; else return None.

    Cheap, for drivers to run before Ray starts: it finds the files as the loader does and reads
    headers, sizes and a sample of images, never the whole set, and never downloads.
    """
    entry, spec = _entry(spec)
    entry.check(spec)


def build_dataset(spec) -> ImageDataset:
    """The data set ``spec`` (a DataSpec) names: options checked, limited, resized, converted.

    An empty result is a DataError: a run must never silently train for zero steps.
    """
    entry, spec = _entry(spec)
    dataset = entry.load(spec).configured(spec.limit, spec.resolution, spec.channels)
    if len(dataset) == 0:
        where = f" in {spec.root}" if spec.root else ""
        raise DataError(f"data set {spec.name!r}{where} has no images (data.limit={spec.limit}); "
                        f"point data.root at a folder or file that holds some")
    return dataset


__all__ = ["DATASETS", "DataError", "ImageDataset", "build_dataset", "check_data"]

import_submodules(__name__)
