"""UnpairedDataset: two image domains A and B whose images do not correspond (CycleGAN's data).

Each domain is an ``ImageDataset`` (ganforge.data.base) with its conventions: uint8 HWC until
``__getitem__``, float32 CHW in [-1, 1] out, augmentation seeded per (seed, epoch, index). Item
``i`` is (A[i mod |A|], B[j]) with ``j`` drawn from (seed, epoch, i): the reference code's
unaligned loader (A in order, B at random), but reproducible, so a resumed run and any number of
DataLoader workers or DDP ranks see the same pairs. The length is max(|A|, |B|). Each domain is
augmented alone (its own seed), with the same pipeline.

Helpers for the registered two-domain sets (data/unpaired_sets.py): :func:`select_classes` (a
class subset of a labelled set) and :func:`every_tenth` (a fixed held-out split for sets that
have none: every 10th image is test).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ganforge.data.base import ImageDataset
from ganforge.data.errors import DataError
from ganforge.noise import derive_seed

HELD_OUT_EVERY = 10  # every 10th image is held out where a set has no split of its own


class UnpairedDataset(Dataset):
    """(a, b) image pairs that do not correspond; ``shape_a``/``shape_b`` are each domain's (C, H, W).

    ``input_shape`` (A's) and ``img_shape`` (B's) name the a2b direction, as a paired set's do.
    """

    task = "unpaired"
    num_classes = 0
    scale = 1

    def __init__(self, a: ImageDataset, b: ImageDataset):
        if not len(a) or not len(b):
            empty = "A" if not len(a) else "B"
            raise DataError(f"unpaired data: domain {empty} has no images; give both domains images")
        self.a, self.b = a, b
        self.shape_a, self.shape_b = tuple(a.img_shape), tuple(b.img_shape)
        self.input_shape, self.img_shape = self.shape_a, self.shape_b
        self._seed, self.epoch = 0, 0
        self.seed = 0

    @property
    def seed(self) -> int:
        """The run's seed; each domain augments with its own seed derived from it."""
        return self._seed

    @seed.setter
    def seed(self, value: int) -> None:
        self._seed = int(value)
        self.a.seed, self.b.seed = derive_seed(value, "A"), derive_seed(value, "B")

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def partner(self, index: int) -> int:
        """The B image item ``index`` pairs with A's (drawn from seed, epoch and ``index``)."""
        return derive_seed(self._seed, self.epoch, index, "partner") % len(self.b)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a[index % len(self.a)][0], self.b[self.partner(index)][0]

    def set_transform(self, pipeline: Any) -> None:
        """The same Albumentations pipeline for both domains (each with its own draws)."""
        self.a.set_transform(pipeline)
        self.b.set_transform(pipeline)

    def set_epoch(self, epoch: int) -> None:
        """Augmentation and partners of the next items are drawn for ``epoch``."""
        self.epoch = int(epoch)
        self.a.set_epoch(epoch)
        self.b.set_epoch(epoch)

    def configured(self, limit: int | None = None, resolution: int | None = None,
                   channels: int | None = None) -> "UnpairedDataset":
        """The first ``limit`` images of each domain at ``resolution``; ``channels`` forces both."""
        dataset = UnpairedDataset(self.a.configured(limit, resolution, channels),
                                  self.b.configured(limit, resolution, channels))
        dataset.set_transform(self.a.transform)
        dataset.seed, dataset.epoch = self._seed, self.epoch
        dataset.set_epoch(self.epoch)
        return dataset

    def domain(self, name: str) -> ImageDataset:
        """Domain ``"a"`` or ``"b"`` alone (evaluation reads each domain's held-out images)."""
        return {"a": self.a, "b": self.b}[name]

    def __repr__(self) -> str:
        return f"UnpairedDataset(A: {len(self.a)} images {self.shape_a}, B: {len(self.b)} images {self.shape_b})"


def subset(dataset: ImageDataset, keep: np.ndarray) -> ImageDataset:
    """The images of ``dataset`` at the indices ``keep`` (labels and class names kept)."""
    source = ({"images": dataset.images[keep]} if dataset.images is not None
              else {"paths": [dataset.paths[i] for i in keep]})
    return ImageDataset(**source, labels=dataset.labels[keep], num_classes=dataset.num_classes,
                        class_names=dataset.class_names, resolution=dataset.resolution, channels=dataset.channels)


def select_classes(dataset: ImageDataset, classes: Sequence[int | str] | None, what: str) -> ImageDataset:
    """The images of the listed classes (ids, or names the data set gives); None keeps all."""
    if not classes:
        return dataset
    names = dataset.class_names or []
    ids = []
    for item in classes:
        if isinstance(item, str) and not item.isdigit():
            if item not in names:
                raise DataError(f"{what}: class {item!r} is not one of the data set's classes ({', '.join(names) or 'none'})")
            ids.append(names.index(item))
        else:
            ids.append(int(item))
    bad = [i for i in ids if not 0 <= i < max(dataset.num_classes, 1)]
    if bad or not dataset.num_classes:
        raise DataError(f"{what}: classes {bad or ids} do not exist; the data set has {dataset.num_classes} classes "
                        f"(0..{max(dataset.num_classes - 1, 0)}): fix the classes option")
    return subset(dataset, np.flatnonzero(np.isin(dataset.labels, ids)))


def every_tenth(dataset: ImageDataset, split: str) -> ImageDataset:
    """The fixed held-out split of a set without one: test = every 10th image, train = the rest."""
    index = np.arange(len(dataset))
    held = index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    return subset(dataset, index[held] if split == "test" else index[~held])
