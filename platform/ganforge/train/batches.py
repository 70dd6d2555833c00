"""Real batches in a reproducible order that a resumed or multi-worker run reproduces.

The sampler is a ``DistributedSampler`` (seeded by the spec, set to each epoch) that can start
part-way into an epoch, so a run resumed at step k reads exactly the batches the uninterrupted
run read from step k on, without decoding the skipped ones. Worker ``rank`` receives rows
``rank::world`` of each global batch (DistributedSampler's interleaving), matching
``BatchRandom``'s latents. ``ray.train.torch.prepare_data_loader`` moves batches to the device.

The DataLoader is built once and persists (its worker processes too, when there are any):
the sampler yields (epoch, index) pairs and ``EpochItems`` sets the data set's epoch per item, so
augmentation, seeded per (seed, epoch, index), is the same in any worker process without
telling workers about a new epoch. Batches are pinned when they go to a GPU.

The loader has its own generator, re-seeded by (seed, epoch) at each epoch: a DataLoader without
one draws its base seed from torch's global RNG whenever an iterator starts, so a resumed run
(one more iterator, at the seek) would continue with a global RNG state the uninterrupted run
never had.
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from ganforge.noise import derive_seed


class ResumableSampler(DistributedSampler):
    """DistributedSampler (drop_last, shuffled) that can skip the first ``start`` indices of an epoch."""

    def __init__(self, dataset: Dataset, world: int, rank: int, seed: int):
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self.start = 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(super().__iter__())
        return iter([(self.epoch, index) for index in indices[self.start :]])

    def __len__(self) -> int:
        return self.num_samples - self.start


class EpochItems(Dataset):
    """``dataset[(epoch, index)]``: item ``index`` as epoch ``epoch`` augments it."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self.epoch_aware = hasattr(dataset, "set_epoch")

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        epoch, index = item
        if self.epoch_aware and getattr(self.dataset, "epoch", None) != epoch:
            self.dataset.set_epoch(epoch)
        return self.dataset[index]


class BatchStream:
    """Endless stream of (images, labels) batches, positioned by global batch index."""

    def __init__(self, dataset: Dataset, batch_per_worker: int, seed: int, rank: int = 0, world: int = 1,
                 num_workers: int = 0, prepare=None, pin_memory: bool = False):
        self.sampler = ResumableSampler(dataset, world, rank, seed)
        self.batch = batch_per_worker
        self.per_epoch = self.sampler.num_samples // batch_per_worker
        if self.per_epoch == 0:
            raise ValueError(
                f"the data set has {len(dataset)} images: too few for a batch of {batch_per_worker} "
                f"per worker x {world} workers; lower train.batch_size or use more data"
            )
        self.dataset, self.num_workers, self.seed = dataset, num_workers, seed
        self.generator = torch.Generator()
        loader = DataLoader(EpochItems(dataset), batch_size=batch_per_worker, sampler=self.sampler, drop_last=True,
                            num_workers=num_workers, persistent_workers=num_workers > 0, pin_memory=pin_memory,
                            generator=self.generator)
        self.loader = (prepare or (lambda built: built))(loader)
        self._iterator: Iterator | None = None
        self.index = 0

    def seek(self, batch_index: int) -> None:
        """Position the stream so that the next batch is global batch ``batch_index``."""
        epoch, within = divmod(batch_index, self.per_epoch)
        self.sampler.set_epoch(epoch)
        self.sampler.start = within * self.batch
        self.generator.manual_seed(derive_seed(self.seed, "loader", epoch))
        self._iterator = iter(self.loader)
        self.index = batch_index

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next batch, rolling over to a freshly shuffled epoch at the end of one."""
        if self._iterator is None:
            self.seek(self.index)
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.seek(self.index)  # index is already the first batch of the next epoch
            batch = next(self._iterator)
        self.index += 1
        return batch
