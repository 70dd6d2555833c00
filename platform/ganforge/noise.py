"""Random numbers that do not depend on how the global batch is split across DDP workers.

Every per-sample random draw of a training step (latents, gradient-penalty mixing weights,
DiffAugment parameters) is drawn for the *global* batch from a generator seeded by
(seed, step, purpose) and each worker keeps the rows ``rank::world``. The data sampler hands
worker ``rank`` the same interleaved rows of the global batch, so real image i, latent i and
its random draws pair up identically whether 1 worker runs the batch of 2B or 2 workers run B
each: one DDP update equals one single-process update, and a resumed run re-draws exactly
what the uninterrupted run drew at that step.
"""
from __future__ import annotations

import hashlib

import torch


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any printable parts (Python's hash() is salted per process)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class BatchRandom:
    """Draws for the global batch, returning this worker's interleaved rows.

    ``rank``/``world`` default to a single process; ``device`` is where results are moved to
    (draws happen on the CPU so that they are identical on every device type).
    """

    def __init__(self, seed: int, step: int, purpose: str, rank: int = 0, world: int = 1,
                 device: torch.device | str = "cpu"):
        self.generator = torch.Generator().manual_seed(derive_seed(seed, step, purpose))
        self.rank, self.world, self.device = rank, world, torch.device(device)

    def _local(self, full: torch.Tensor) -> torch.Tensor:
        return full[self.rank :: self.world].to(self.device)

    def rand(self, local_batch: int, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) of shape [local_batch, *shape]."""
        return self._local(torch.rand(local_batch * self.world, *shape, generator=self.generator))

    def randn(self, local_batch: int, *shape: int) -> torch.Tensor:
        """Standard normal of shape [local_batch, *shape]."""
        return self._local(torch.randn(local_batch * self.world, *shape, generator=self.generator))

    def randint(self, low: int, high: int, local_batch: int, *shape: int) -> torch.Tensor:
        """Integers in [low, high) of shape [local_batch, *shape]."""
        full = torch.randint(low, high, (local_batch * self.world, *shape), generator=self.generator)
        return self._local(full)
