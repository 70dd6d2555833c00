"""Where the worker loop runs and whom it reports to: a Ray Train worker, or a Tune trial's process.

``ganforge train`` and ``submit`` (and a search whose trials have several workers) run the loop
in Ray Train workers: ``TrainSession``. A one-worker Tune trial runs it in the trial's own
process: ``TuneSession``, which reports to Tune directly. A one-worker Train run inside a trial
started processes a single process does not need: a controller, a worker, three helper actors
and a queue, most of them importing torch or Ray Train.

The loop asks a session for its rank and world, its device, its data loader's wrapping, the
checkpoint to continue from, and to report (metrics, optionally a checkpoint directory).
"""
from __future__ import annotations

import math
from typing import Iterator

import torch

class TrainSession:
    """The loop inside a Ray Train worker."""

    def __init__(self):
        import ray.train

        context = ray.train.get_context()
        self.rank, self.world = context.get_world_rank(), context.get_world_size()

    def device(self) -> torch.device:
        from ray.train.torch import get_device

        return get_device()

    def prepare(self, loader):
        """Ray moves each batch to this worker's device (the loop shards the data itself)."""
        from ray.train.torch import prepare_data_loader

        return prepare_data_loader(loader, add_dist_sampler=False)

    def checkpoint(self):
        """Ray's latest checkpoint of this run (after a worker failure), else None."""
        import ray.train

        return ray.train.get_checkpoint()

    def report(self, metrics: dict, directory: str | None = None) -> None:
        """All ranks call this (a barrier); a directory is copied to the run's storage."""
        import ray.train

        checkpoint = ray.train.Checkpoint.from_directory(directory) if directory else None
        ray.train.report(metrics, checkpoint=checkpoint)


class _OnDevice:
    """A data loader whose batches are moved to ``device`` (what Ray's prepare_data_loader does)."""

    def __init__(self, loader, device: torch.device):
        self.loader, self.device = loader, device

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            yield _to(batch, self.device)


def _to(batch, device: torch.device):
    from ganforge.train.precision import to_device

    if isinstance(batch, torch.Tensor):
        return to_device(batch, device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to(value, device) for key, value in batch.items()}
    return batch


class TuneSession:
    """The loop in a one-worker Tune trial: rank 0 of 1, reporting to Tune.

    The checkpoint a trial starts from (a PBT donor's, or its own in a resumed search) reaches the
    loop as ``resume_from``, as it does for a Train run inside a trial. A report without the
    search's metric (a diverged trial reports its status only) gets the worst value: Tune rejects
    results that lack it. ``last`` holds the last metrics reported.
    """

    rank, world = 0, 1

    def __init__(self, metric: str, mode: str):
        self.metric, self.worst = metric, math.inf if mode == "min" else -math.inf
        self.last: dict = {}

    def device(self) -> torch.device:
        # Ray sets CUDA_VISIBLE_DEVICES to the trial's own GPUs (none unless it asked for one).
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")

    def prepare(self, loader):
        return loader if self.device().type == "cpu" else _OnDevice(loader, self.device())

    def checkpoint(self):
        return None

    def report(self, metrics: dict, directory: str | None = None) -> None:
        """tune.report persists the checkpoint to the trial's storage before it returns, and
        raises SystemExit when the scheduler stops the trial (the trial function handles it)."""
        from ray import tune

        self.last = dict(metrics)
        metrics = {self.metric: self.worst, **metrics}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory) if directory else None)

