"""The image pool of CycleGAN (Zhu et al. 2017, section 4, after Shrivastava et al. 2017): each
discriminator is updated on a history of generated images rather than only the latest ones.

Semantics are the reference code's (``util/image_pool.py``): for each image of a batch, in order,
while the pool holds fewer than ``size`` images the image is stored and returned; once it is
full, with probability 1/2 a uniformly chosen stored image is returned and replaced by the new
one, else the new image is returned and the pool is unchanged. ``size`` 0 returns the batch.

Two differences keep training exact: the draws come from a generator the caller seeds per step
(not Python's global ``random``), so a resumed run repeats them; and the pool is part of the
checkpoint (``state_dict``; GanModules.extras). Under DDP every rank holds the same pool of the
GLOBAL batch: :func:`gather_global` puts the ranks' rows back in the global batch's order (rank r
holds rows r::world, DistributedSampler's interleaving), every rank queries with the same draws
and keeps its own rows, so 2 workers x B query the pool exactly as 1 worker x 2B.
"""
from __future__ import annotations

import torch
import torch.distributed as dist


class ImagePool:
    """A history of up to ``size`` generated images (detached), saved in checkpoints."""

    def __init__(self, size: int = 50):
        if size < 0:
            raise ValueError(f"an image pool holds 0 or more images, got size {size}")
        self.size = size
        self.images: torch.Tensor | None = None  # [n, C, H, W], n <= size

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    def query(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The images D sees for this ``images`` batch; the pool is updated as described above.

        Two draws per image whatever happens (uniform, index), so the stream of draws never
        depends on the pool's contents.
        """
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            use_stored = torch.rand((), generator=generator).item() > 0.5
            index = int(torch.randint(self.size, (), generator=generator))
            if len(self) < self.size:
                self._append(image)
                out.append(image)
            elif use_stored:
                stored = self.images[index].to(image.device).clone()
                self.images[index] = image.to(self.images.device)
                out.append(stored)
            else:
                out.append(image)
        return torch.stack(out)

    def _append(self, image: torch.Tensor) -> None:
        row = image[None].clone()
        self.images = row if self.images is None else torch.cat([self.images, row.to(self.images.device)])

    def state_dict(self) -> dict:
        """The stored images (an empty tensor when none) and the size."""
        images = self.images if self.images is not None else torch.zeros(0)
        return {"images": images.detach().cpu().clone(), "size": torch.tensor(self.size)}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved; a pool of another size is refused."""
        size = int(state["size"])
        if size != self.size:
            raise ValueError(f"the checkpoint's image pool holds up to {size} images, this run's {self.size}; "
                             "resume with the spec that wrote it (model.options.pool_size)")
        images = state["images"]
        self.images = images.clone() if images.numel() else None


def gather_global(images: torch.Tensor, world: int) -> torch.Tensor:
    """The global batch from every rank's rows (rank r's row i is global row i * world + r)."""
    if world == 1:
        return images
    parts = [torch.empty_like(images) for _ in range(world)]
    dist.all_gather(parts, images.contiguous())
    return torch.stack(parts, dim=1).flatten(0, 1)  # [B, world, ...] -> rows interleaved by rank


def query_global(pool: ImagePool, images: torch.Tensor, generator: torch.Generator, rank: int = 0,
                 world: int = 1) -> torch.Tensor:
    """This rank's rows of the pool's answer for the global batch (the same pool on every rank)."""
    answer = pool.query(gather_global(images.detach(), world), generator)
    return answer[rank::world] if world > 1 else answer
