"""ADA's p controller: r_t over 4 minibatches moves p at 500 kimg speed, exactly under DDP, and resumes."""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ganforge.augment.ada_control import AdaAugment, AdaController
from ganforge.noise import BatchRandom

pytestmark = pytest.mark.unit

BATCH = 64


def overfitting_d(step: int) -> torch.Tensor:
    """A scripted D that has memorised a tiny real set: every real scores positive."""
    return torch.rand(BATCH, generator=torch.Generator().manual_seed(step)) + 0.1


def healthy_d(step: int) -> torch.Tensor:
    """A scripted D that cannot tell reals apart: a quarter of them score positive (r_t = -0.5)."""
    scores = -torch.rand(BATCH, generator=torch.Generator().manual_seed(step)) - 0.1
    scores[: BATCH // 4] *= -1
    return scores


def test_p_rises_at_500_kimg_speed_when_d_overfits():
    ada = AdaController(target=0.6)
    for step in range(3):
        ada.observe(overfitting_d(step))
    assert ada.p == 0.0 and "ada_r_t" not in ada.metrics()  # no adjustment before 4 minibatches
    for step in range(3, 40):
        ada.observe(overfitting_d(step))
    assert ada.r_t == 1.0
    assert ada.p == pytest.approx(10 * 4 * BATCH / 500_000)  # 10 adjustments of 256 images each


def test_p_falls_when_d_does_not_overfit_and_stops_at_zero():
    ada = AdaController(target=0.6, p=0.01)
    for step in range(40):
        ada.observe(healthy_d(step))
    assert ada.r_t == -0.5
    assert ada.p == pytest.approx(0.01 - 10 * 4 * BATCH / 500_000)
    for step in range(40, 400):
        ada.observe(healthy_d(step))
    assert ada.p == 0.0


def test_p_crosses_from_0_to_1_in_kimg_thousand_images_and_stays_at_most_1():
    ada = AdaController(target=0.6, kimg=4 * BATCH * 10 / 1000)  # 10 adjustments' worth of images
    for step in range(4 * 9):
        ada.observe(overfitting_d(step))
    assert ada.p == pytest.approx(0.9)
    for step in range(4 * 9, 4 * 20):
        ada.observe(overfitting_d(step))
    assert ada.p == 1.0


def test_the_augment_callable_uses_the_current_p():
    ada = AdaController()
    augment = AdaAugment(ada)
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    assert augment(x, BatchRandom(0, 0, "aug")) is x  # p = 0: untouched
    ada.p = 0.9
    assert not torch.equal(augment(x, BatchRandom(0, 0, "aug")), x)


def test_a_checkpoint_between_adjustments_resumes_exactly(tmp_path):
    from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint
    from test_checkpoint_extras import modules

    whole = AdaController()
    for step in range(30):
        whole.observe(overfitting_d(step) - 0.55 * (step % 3 == 0))
    first = AdaController()
    for step in range(14):  # mid-interval: two minibatches into the fourth window
        first.observe(overfitting_d(step) - 0.55 * (step % 3 == 0))
    save_checkpoint(modules(ada=first), 14, {}, {}, tmp_path)
    second = AdaController()
    restore(modules(ada=second), load_checkpoint(tmp_path))
    for step in range(14, 30):
        second.observe(overfitting_d(step) - 0.55 * (step % 3 == 0))
    assert (second.p, second.r_t, second.batches) == (whole.p, whole.r_t, whole.batches)
    assert whole.p > 0


def split_logits(step: int) -> torch.Tensor:
    """Global r_t 0.5 (below target) while rank 0's rows alone give 0.75 (above): a controller that
    did not average over ranks would move p the wrong way on rank 0."""
    logits = -torch.ones(BATCH)
    logits[0::2][: BATCH * 7 // 16] = 1.0  # rank 0: 28 of 32 positive -> r_t 0.75
    logits[1::2][: BATCH * 5 // 16] = 1.0  # rank 1: 20 of 32 positive -> r_t 0.25
    return logits * (1 + step)


def _rank_main(rank: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        ada = AdaController(p=0.5, world=2)
        for step in range(8):
            ada.observe(split_logits(step)[rank::2])
        torch.save({"p": ada.p, "r_t": ada.r_t}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_r_t_and_p_under_two_ddp_ranks_equal_the_single_process_values(tmp_path):
    single = AdaController(p=0.5)
    for step in range(8):
        single.observe(split_logits(step))
    assert single.r_t == 0.5 and single.p < 0.5
    # fork, not spawn: the ranks need nothing but this module's objects, and spawning two fresh
    # interpreters (torch, albumentations) cost ~45 s on 2 busy cores against ~1 s forked.
    mp.start_processes(_rank_main, args=(str(tmp_path / "pg"), str(tmp_path / "out")), nprocs=2, start_method="fork")
    for rank in range(2):
        assert torch.load(f"{tmp_path / 'out'}.{rank}") == {"p": single.p, "r_t": single.r_t}
