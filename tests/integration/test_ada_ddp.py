"""One DDP step with ADA equals one process on the whole batch (test_ddp_equivalence's comparison).

p moves after every D update (interval 1) from the all-reduced r_t, and the next update's
augmentations use it: a rank that moved p from its own half of the batch would augment
differently and its gradients would not match.
"""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from test_ddp_equivalence import SMALL, mismatches, run_case

pytestmark = pytest.mark.integration

CASE = {"augment": {"ada": {"target": 0.6, "interval": 1, "kimg": 1, "p": 0.5}}, "model": SMALL}


def _rank_main(rank: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        result = run_case(CASE, rank, 2)
        if rank == 0:
            torch.save(result, out)
    finally:
        dist.destroy_process_group()


def test_two_ranks_with_ada_equal_one_process(tmp_path):
    # fork: the ranks need only this module's objects; spawning two interpreters costs ~45 s here.
    mp.start_processes(_rank_main, args=(str(tmp_path / "pg"), str(tmp_path / "out")), nprocs=2, start_method="fork")
    reference = run_case(CASE, 0, 1)
    assert not mismatches(reference, torch.load(tmp_path / "out", weights_only=False))
