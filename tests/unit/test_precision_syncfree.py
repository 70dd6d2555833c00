"""The sync-free step (what a GPU runs) against the immediate one (what a CPU runs), on a CPU.

A deferred ``LossGuard`` reads no loss inside a step. Good steps must give bit for bit the state
the immediate step gives; a non-finite loss must raise the same error at the next check, with
the parameters, optimizer moments and EMA as the immediate step left them when it raised (the
update of that step and of every step after it skipped on the device).
"""
from __future__ import annotations

import pytest
import torch

from ganforge.config import ExperimentSpec
from ganforge.train.loop import reads_losses
from ganforge.train.setup import build_modules, build_step
from ganforge.train.step import LossGuard, NonFiniteLossError, host_values
from statecompare import differences

pytestmark = pytest.mark.unit

SPEC = {"model": {"z_dim": 8, "options": {"ngf": 8, "ndf": 8}}, "train": {"batch_size": 8, "ema": 0.5}}


def batch(seed: int, nan: bool = False):
    g = torch.Generator().manual_seed(seed)
    real = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1
    if nan:
        real[0, 0, 0, 0] = float("nan")
    return [(real, torch.zeros(8, dtype=torch.long))]


def built(deferred: bool):
    spec = ExperimentSpec(**SPEC)
    modules = build_modules(spec, (1, 16, 16), 10)
    step = build_step(spec, modules)
    step.guard = LossGuard(deferred=deferred)  # what build_step picks on a GPU
    return modules, step


def learnt(modules) -> dict:
    """What an update writes: parameters, EMA parameters, optimizer states (BN statistics are
    not: forwards move them, and a diverged run saves no checkpoint)."""
    return {"G": dict(modules.G.named_parameters()), "D": dict(modules.D.named_parameters()),
            "G_ema": dict(modules.G_ema.named_parameters()),
            "opt_g": modules.opt_g.state_dict(), "opt_d": modules.opt_d.state_dict()}


def test_deferred_steps_equal_immediate_steps_bit_for_bit():
    (now_m, now), (later_m, later) = built(False), built(True)
    for t in range(3):
        expected = now(batch(t), t)
        got = later(batch(t), t)
        assert all(isinstance(v, torch.Tensor) for v in got.values())  # nothing read on the host
        assert host_values(got) == expected
    later.guard.check()
    assert not differences(now_m.G.state_dict(), later_m.G.state_dict())
    assert not differences(learnt(now_m), learnt(later_m))


def test_a_non_finite_loss_raises_at_the_check_with_the_update_not_applied():
    (now_m, now), (later_m, later) = built(False), built(True)
    now(batch(0), 0)
    with pytest.raises(NonFiniteLossError) as immediate:
        now(batch(1, nan=True), 1)
    for t in range(3):  # the bad step and one more run; nothing raises inside a step
        later(batch(t, nan=t == 1), t)
    with pytest.raises(NonFiniteLossError) as deferred:
        later.guard.check()
    assert str(deferred.value) == str(immediate.value) and "non-finite d_loss at step 1" in str(deferred.value)
    assert deferred.value.step == immediate.value.step == 1
    assert not differences(learnt(now_m), learnt(later_m))  # step 1's and step 2's updates skipped


def test_the_host_reads_losses_only_at_boundaries_every_rank_shares():
    spec = ExperimentSpec(train={"steps": 100, "log_every": 10, "checkpoint_every": 25, "sample_every": 0},
                          eval={"every": 0})
    assert [d for d in range(1, 101) if reads_losses(spec, d)] == [10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100]
