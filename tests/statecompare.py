"""Exact comparison of nested training states (checkpoints, optimizer and schedule state dicts)."""
from __future__ import annotations

import torch


def differences(a, b, path: str = "") -> list[str]:
    """Where two nested states differ (torch.equal for tensors, == for everything else)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(map(str, a))} vs {sorted(map(str, b))}"]
        return [d for key in a for d in differences(a[key], b[key], f"{path}.{key}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        return [] if same else [f"{path}: max abs diff {(a.double() - b.double()).abs().max():.3e}" if
                                a.shape == b.shape else f"{path}: shape {tuple(a.shape)} vs {tuple(b.shape)}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]
