import math

import pytest
import torch

from ganforge.config import ExperimentSpec
from ganforge.train.batches import BatchStream
from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint
from ganforge.train.setup import build_modules, build_step
from ganforge.train.step import NonFiniteLossError

pytestmark = pytest.mark.unit


def small(**sections):
    base = {"model": {"z_dim": 8, "options": {"ngf": 8, "ndf": 8}}, "train": {"batch_size": 8, "ema": 0.5}}
    base.update(sections)
    return ExperimentSpec(**base)


def real_batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 16, 16, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def test_step_changes_parameters_and_ema_follows():
    spec = small()
    modules = build_modules(spec, (1, 16, 16), 10)
    step = build_step(spec, modules)
    g0 = [p.clone() for p in modules.G.parameters()]
    ema0 = [p.clone() for p in modules.G_ema.parameters()]
    metrics = step([real_batch()], 0)
    assert set(metrics) == {"d_loss", "g_loss"} and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, modules.G.parameters()))
    # EMA: halfway between old EMA and the new G (decay 0.5)
    for e0, e1, g in zip(ema0, modules.G_ema.parameters(), modules.G.parameters()):
        assert torch.allclose(e1, 0.5 * e0 + 0.5 * g, atol=1e-6)


def test_discriminator_loss_falls_on_a_fixed_batch():
    spec = small(optim={"d": {"lr": 1e-3}})
    modules = build_modules(spec, (1, 16, 16), 10)
    step = build_step(spec, modules)
    real, y = real_batch(16)
    losses = [step.d_update(real, y, step=0, k=0)["d_loss"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


def test_generator_loss_falls_against_a_frozen_discriminator():
    spec = small(optim={"g": {"lr": 1e-3}})
    modules = build_modules(spec, (1, 16, 16), 10)
    step = build_step(spec, modules)
    real, y = real_batch()
    losses = [step.g_update(real, y, step=0)["g_loss"] for _ in range(30)]
    assert losses[-1] < losses[0]


def test_non_finite_loss_stops_without_applying_the_update():
    spec = small()
    modules = build_modules(spec, (1, 16, 16), 10)
    step = build_step(spec, modules)
    d0 = [p.clone() for p in modules.D.parameters()]
    real, y = real_batch()
    real[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="non-finite d_loss at step 3"):
        step([(real, y)], 3)
    assert all(torch.equal(a, b) for a, b in zip(d0, modules.D.parameters()))


def test_same_seed_same_step_same_result_and_checkpoint_round_trip(tmp_path):
    spec = small()
    runs = []
    for _ in range(2):
        modules = build_modules(spec, (1, 16, 16), 10)
        step = build_step(spec, modules)
        for t in range(2):
            step([real_batch(seed=t)], t)
        runs.append(modules)
    for a, b in zip(runs[0].G.parameters(), runs[1].G.parameters()):
        assert torch.equal(a, b)
    save_checkpoint(runs[0], 2, spec.to_dict(), {"img_shape": [1, 16, 16], "num_classes": 10}, tmp_path)
    fresh = build_modules(spec, (1, 16, 16), 10)
    assert restore(fresh, load_checkpoint(tmp_path)) == 2
    for a, b in zip(fresh.D.parameters(), runs[0].D.parameters()):
        assert torch.equal(a, b)
    assert fresh.opt_g.state_dict()["state"][0]["step"] == runs[0].opt_g.state_dict()["state"][0]["step"]


def test_restore_keeps_state_but_takes_the_specs_hyperparameters(tmp_path):
    """PBT restores a donor's checkpoint under a mutated lr: moments and schedule position come
    from the checkpoint, lr (rescaled along the schedule) and betas from the new spec."""
    spec = small(schedule={"name": "cosine"}, train={"batch_size": 8, "steps": 10, "ema": 0.5})
    modules = build_modules(spec, (1, 16, 16), 10)
    step = build_step(spec, modules)
    for t in range(3):
        step([real_batch(seed=t)], t)
    meta = {"img_shape": [1, 16, 16], "num_classes": 10}
    save_checkpoint(modules, 3, spec.to_dict(), meta, tmp_path)
    saved_lr = modules.opt_g.param_groups[0]["lr"]

    same = build_modules(spec, (1, 16, 16), 10)
    restore(same, load_checkpoint(tmp_path))
    assert same.opt_g.param_groups[0]["lr"] == saved_lr  # bit for bit: a plain resume stays exact

    mutated = small(schedule={"name": "cosine"}, train={"batch_size": 8, "steps": 10, "ema": 0.5},
                    optim={"g": {"lr": 4e-4, "betas": [0.0, 0.9]}})
    donor = build_modules(mutated, (1, 16, 16), 10)
    assert restore(donor, load_checkpoint(tmp_path)) == 3
    group = donor.opt_g.param_groups[0]
    assert group["lr"] == pytest.approx(2 * saved_lr) and group["betas"] == (0.0, 0.9)
    assert donor.sched_g.get_last_lr() == [group["lr"]] and donor.sched_g.base_lrs == [4e-4]
    assert torch.equal(donor.opt_g.state_dict()["state"][0]["exp_avg"], modules.opt_g.state_dict()["state"][0]["exp_avg"])
    donor.sched_g.step()  # the schedule continues from step 3 on the new base: 4e-4 * cosine(4/10)
    assert group["lr"] == pytest.approx(4e-4 * 0.5 * (1 + math.cos(math.pi * 4 / 10)))
    assert donor.opt_d.param_groups[0]["lr"] == modules.opt_d.param_groups[0]["lr"]


def test_corrupt_checkpoint_error_names_the_file(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="checkpoint.pt"):
        load_checkpoint(tmp_path)


class Tiny(torch.utils.data.Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, i):
        return torch.tensor([float(i)]), i


def test_batch_stream_seek_resumes_mid_epoch_and_splits_across_workers():
    whole = BatchStream(Tiny(), 4, seed=1)
    sequence = [whole.next()[1].tolist() for _ in range(7)]  # crosses an epoch (5 batches each)
    later = BatchStream(Tiny(), 4, seed=1)
    later.seek(3)
    assert [later.next()[1].tolist() for _ in range(4)] == sequence[3:7]
    ranks = [BatchStream(Tiny(), 2, seed=1, rank=r, world=2) for r in range(2)]
    for batch in sequence[:3]:
        halves = [stream.next()[1].tolist() for stream in ranks]
        assert sorted(halves[0] + halves[1]) == sorted(batch)


def test_too_small_data_set_is_an_error():
    with pytest.raises(ValueError, match="too few"):
        BatchStream(Tiny(), 32, seed=0)


def test_a_checkpoint_of_another_format_is_refused(tmp_path):
    import torch

    torch.save({"format": 99, "step": 1}, tmp_path / "checkpoint.pt")
    with pytest.raises(RuntimeError, match="format 99; this ganforge reads format 1"):
        load_checkpoint(tmp_path)


def test_batch_stream_leaves_torch_global_rng_alone():
    """Seeking (as a resume does) and rolling over epochs must not draw from torch's global RNG:
    a resumed run seeks once more than the uninterrupted one, and its RNG state must still match."""
    stream = BatchStream(Tiny(), 4, seed=1)
    before = torch.get_rng_state()
    stream.seek(3)
    for _ in range(8):  # crosses an epoch (5 batches each)
        stream.next()
    assert torch.equal(before, torch.get_rng_state())


class EpochTagged(Tiny):
    """Item i of epoch e is 100 e + i: what an epoch-seeded augmentation sees."""

    epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, i):
        return torch.tensor([float(100 * self.epoch + i)]), i


def test_one_persistent_loader_whose_worker_processes_see_each_epoch():
    """The DataLoader (and its worker process) lives across epochs; items carry their epoch, so
    a worker augments epoch 2 as epoch 2 although nobody told it that epoch started."""
    inline, workers = BatchStream(EpochTagged(), 4, seed=1), BatchStream(EpochTagged(), 4, seed=1, num_workers=1)
    loader = workers.loader
    expected = [inline.next()[0].flatten().tolist() for _ in range(12)]  # 5 batches an epoch: epochs 0, 1, 2
    got = [workers.next()[0].flatten().tolist() for _ in range(12)]
    assert got == expected and workers.loader is loader
    assert {int(v) // 100 for v in expected[-1]} == {2}
