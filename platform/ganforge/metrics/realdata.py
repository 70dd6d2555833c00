"""Access to real images for evaluation: the data set a spec names, and seeded subsets of it.

All real data used by the metrics goes through :func:`build_real_dataset`, the one call into
``ganforge.data``; items are ``(float [C, H, W] in [-1, 1], int label)`` with attributes
``num_classes`` and ``img_shape``.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch


def build_real_dataset(data_spec: Any):
    """``ganforge.data.build_dataset(data_spec)`` (imported here, not at module import)."""
    from ganforge.data import build_dataset

    return build_dataset(data_spec)


def canonical_dataset(name: str, base: Any = None) -> tuple[Any, dict]:
    """The data a domain classifier trains on, and its spec as a dict (part of the cache key).

    Data set ``name`` at 32 px, train split, no limit: fixed rather than taken from the evaluated
    spec, so that ``domain:<name>`` is the same network in every run and its numbers stay
    comparable. ``base`` (the evaluated DataSpec) contributes ``root``/``options``/``channels``
    when it names the same data set (folder or .npz data sets need them).
    """
    from ganforge.config import DataSpec

    spec = base if base is not None and base.name == name else DataSpec(name=name)
    spec = spec.model_copy(update={"resolution": 32, "split": "train", "limit": None})
    return build_real_dataset(spec), spec.model_dump(mode="json")


def subset_indices(length: int, n: int, seed: int = 0) -> list[int]:
    """All indices if ``n >= length``, else a seeded random choice of ``n`` (sorted, stable)."""
    if n >= length:
        return list(range(length))
    generator = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(length, generator=generator)[:n].tolist())


def image_batches(dataset, indices: list[int], batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, labels) batches of ``dataset[indices]`` in order, without worker processes."""
    for start in range(0, len(indices), batch_size):
        items = [dataset[i] for i in indices[start : start + batch_size]]
        images = torch.stack([item[0] for item in items])
        labels = torch.as_tensor([int(item[1]) for item in items], dtype=torch.long)
        yield images, labels
