"""CycleGAN's image pool alone (tasks/image_pool.py): the reference code's semantics against a
hand simulation with the same draws, the pass-through of size 0, and the pool in the checkpoint."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.tasks.image_pool import ImagePool, query_global
from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint
from ganforge.train.step import GanModules

pytestmark = pytest.mark.unit


def batch(start: int, n: int = 3) -> torch.Tensor:
    """n images [1, 2, 2] whose every pixel is its own id (start, start + 1, ...)."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def ids(images: torch.Tensor) -> list[int]:
    return [int(image[0, 0, 0]) for image in images]


def by_hand(pool: list[int], new: list[int], size: int, seed: int) -> tuple[list[int], list[int]]:
    """The reference algorithm on ids, with the pool's two draws per image: (returned, pool after)."""
    generator, pool, out = torch.Generator().manual_seed(seed), list(pool), []
    for image in new:
        stored = torch.rand((), generator=generator).item() > 0.5
        index = int(torch.randint(size, (), generator=generator))
        if len(pool) < size:
            pool.append(image)
            out.append(image)
        elif stored:
            out.append(pool[index])
            pool[index] = image
        else:
            out.append(image)
    return out, pool


def test_while_filling_the_pool_returns_and_stores_each_image():
    pool = ImagePool(4)
    returned = pool.query(batch(0), torch.Generator().manual_seed(0))
    assert ids(returned) == [0, 1, 2] and ids(pool.images) == [0, 1, 2]
    returned = pool.query(batch(10), torch.Generator().manual_seed(0))
    assert ids(returned)[0] == 10 and ids(pool.images)[:4] == [0, 1, 2, 10]  # full after the 4th image


def test_a_full_pool_swaps_half_the_time_as_the_reference_code():
    pool, expected_pool, swapped = ImagePool(4), [], 0
    for round_, seed in enumerate(range(6)):
        new = list(range(100 * round_, 100 * round_ + 3))
        want, expected_pool = by_hand(expected_pool, new, 4, seed)
        got = pool.query(batch(new[0]), torch.Generator().manual_seed(seed))
        assert ids(got) == want and ids(pool.images) == expected_pool, round_
        swapped += sum(a != b for a, b in zip(ids(got), new))
    assert swapped > 0  # some images came from the history, so the swap branch was exercised


def test_size_zero_returns_the_batch_and_the_result_carries_no_gradient():
    images = batch(0).requires_grad_(True)
    assert torch.equal(ImagePool(0).query(images, torch.Generator()), images.detach())
    assert not ImagePool(5).query(images * 2, torch.Generator()).requires_grad


def test_one_rank_keeps_its_own_rows_of_the_global_answer():
    """world 1: query_global is the pool's own answer (2 ranks: tests/integration/test_ddp_equivalence.py)."""
    a, b = ImagePool(2), ImagePool(2)
    first = query_global(a, batch(0, 4), torch.Generator().manual_seed(3))
    assert torch.equal(first, b.query(batch(0, 4), torch.Generator().manual_seed(3)))


def modules(pool: ImagePool) -> GanModules:
    G, D = nn.Linear(1, 1), nn.Linear(1, 1)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=0.1), torch.optim.SGD(D.parameters(), lr=0.1)
    const = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)  # noqa: E731
    return GanModules(G, D, None, opt_g, opt_d, const(opt_g), const(opt_d), extras={"pool_a": pool})


def test_the_pool_travels_in_the_checkpoint_and_answers_the_same_after_restore(tmp_path):
    pool = ImagePool(3)
    for seed in range(3):
        pool.query(batch(10 * seed), torch.Generator().manual_seed(seed))
    save_checkpoint(modules(pool), 3, {}, {}, tmp_path)
    resumed = modules(ImagePool(3))
    restore(resumed, load_checkpoint(tmp_path))
    again = resumed.extras["pool_a"]
    assert torch.equal(again.images, pool.images)
    draws = lambda: torch.Generator().manual_seed(9)  # noqa: E731
    assert torch.equal(again.query(batch(50), draws()), pool.query(batch(50), draws()))


def test_an_empty_pool_round_trips_and_another_size_is_refused():
    empty = ImagePool(3)
    restored = ImagePool(3)
    restored.load_state_dict(empty.state_dict())
    assert len(restored) == 0
    with pytest.raises(ValueError, match="up to 3 images, this run's 5"):
        ImagePool(5).load_state_dict(empty.state_dict())
