"""Real-data statistics (pool features, mean, covariance), computed once and cached.

The key hashes the data set spec, a content fingerprint of the data set (its length and a few
sampled images, so changed files under the same spec are noticed), the extractor's identity
(including a digest of its weights) and n. Statistics live in memory for the process (periodic
evaluation during training) and on disk as ``.npz`` (every later run and every Tune trial).
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics

from ganforge.metrics import realdata
from ganforge.metrics.base import RealStats
from ganforge.metrics.cache import atomic_write, cache_dir, content_key
from ganforge.metrics.extractor import Extractor

FORMAT_VERSION = 1
SUBSET_SEED = 0  # which real images are used when n < len(dataset): fixed, so keys are stable
_IN_MEMORY: OrderedDict[str, RealStats] = OrderedDict()
_IN_MEMORY_MAX = 4


def dataset_fingerprint(dataset, samples: int = 8) -> str:
    """Hash of the data set's length and ``samples`` evenly spaced images."""
    length = len(dataset)
    picks = sorted({int(i * (length - 1) / max(samples - 1, 1)) for i in range(samples)}) if length else []
    digests = [content_key(dataset[i][0].numpy().round(4).tobytes().hex()) for i in picks]
    return content_key(length, digests)


def stats_key(data: dict[str, Any], dataset, extractor: Extractor, n: int) -> str:
    """The cache key of real statistics: (data spec, data content, extractor identity, n)."""
    return content_key("real-stats", FORMAT_VERSION, data, dataset_fingerprint(dataset), extractor.identity, n)


def compute_real_stats(dataset, extractor: Extractor, n: int, batch_size: int = 100, key: str = "") -> RealStats:
    """Extract pool features of ``n`` real images (all if fewer) and their FID statistics."""
    indices = realdata.subset_indices(len(dataset), n, SUBSET_SEED)
    chunks = [extractor.features(images)["pool"] for images, _ in realdata.image_batches(dataset, indices, batch_size)]
    features = torch.cat(chunks)
    stats = fid_features_to_statistics(features)  # torch-fidelity's own (identical numbers)
    return RealStats(features=features, mu=stats["mu"], sigma=stats["sigma"], key=key)


def _save(stats: RealStats, path: Path) -> None:
    def write(tmp: str) -> None:
        np.savez(tmp, features=stats.features.numpy(), mu=stats.mu, sigma=stats.sigma)

    atomic_write(path, write)


def _load(path: Path, key: str) -> RealStats:
    with np.load(path, allow_pickle=False) as data:
        return RealStats(features=torch.from_numpy(data["features"]), mu=data["mu"], sigma=data["sigma"], key=key)


def _remember(key: str, stats: RealStats) -> RealStats:
    _IN_MEMORY[key] = stats
    _IN_MEMORY.move_to_end(key)
    while len(_IN_MEMORY) > _IN_MEMORY_MAX:
        _IN_MEMORY.popitem(last=False)
    return stats


def real_statistics(dataset, extractor: Extractor, n: int, *, data: dict[str, Any] | None = None,
                    batch_size: int = 100, refresh: bool = False) -> RealStats:
    """Cached real statistics: memory, else disk, else computed (and written atomically).

    ``data`` is the data set spec as a dict (part of the key); ``refresh`` recomputes.
    """
    key = stats_key(data or {}, dataset, extractor, n)
    if key in _IN_MEMORY and not refresh:
        return _IN_MEMORY[key]
    path = cache_dir("real-stats") / f"{key}.npz"
    if path.is_file() and not refresh:
        return _remember(key, _load(path, key))
    stats = compute_real_stats(dataset, extractor, n, batch_size, key)
    _save(stats, path)
    return _remember(key, stats)


def forget_in_memory() -> None:
    """Empty the per-process memory (the disk cache stays)."""
    _IN_MEMORY.clear()
