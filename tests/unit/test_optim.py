"""The optimizer and learning-rate schedule registries shared by train and tune."""
from __future__ import annotations

import math

import pytest
import torch

from ganforge.config import OptimizerSpec, ScheduleSpec, SpecError
from ganforge.train.optim import build_optimizer, build_scheduler


def optimizer(name: str, **fields):
    return build_optimizer([torch.nn.Parameter(torch.zeros(3))], OptimizerSpec(name=name, lr=0.1, **fields))


@pytest.mark.parametrize("name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                       ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD),
                                       ("nesterov", torch.optim.SGD)])
def test_each_optimizer_is_the_torch_one_with_the_spec_lr(name, cls):
    built = optimizer(name)
    assert type(built) is cls and built.param_groups[0]["lr"] == 0.1
    assert built.param_groups[0].get("nesterov", False) is (name == "nesterov")


def test_nesterov_gets_momentum_even_when_the_spec_sets_none():
    assert optimizer("nesterov", momentum=0.0).param_groups[0]["momentum"] == 0.9


def lrs(name: str, total: int = 100, **options) -> list[float]:
    """The lr at every step 0..total of a 0.1-lr optimizer under schedule ``name``."""
    opt = optimizer("sgd")
    schedule = build_scheduler(opt, ScheduleSpec(name=name, options=options), total)
    values = []
    for _ in range(total + 1):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return values


def test_schedules_follow_their_formulas():
    assert set(lrs("none")) == {0.1}
    step = lrs("step", step_size=30, gamma=0.5)
    assert step[29] == pytest.approx(0.1) and step[30] == pytest.approx(0.05) and step[90] == pytest.approx(0.0125)
    assert lrs("exponential", gamma=0.9)[10] == pytest.approx(0.1 * 0.9 ** 10)
    cosine = lrs("cosine", min_lr_ratio=0.1)
    assert cosine[50] == pytest.approx(0.1 * (0.1 + 0.9 * 0.5)) and cosine[100] == pytest.approx(0.01)
    linear = lrs("linear")
    assert linear[25] == pytest.approx(0.075) and linear[100] == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(linear, linear[1:]))
    held = lrs("constant-linear", hold_fraction=0.6)  # pix2pix: constant, then linear to 0
    assert held[:61] == pytest.approx([0.1] * 61) and held[80] == pytest.approx(0.05) and held[100] == pytest.approx(0.0, abs=1e-12)
    warmup = lrs("warmup", warmup_steps=10)
    assert warmup[0] == pytest.approx(0.01) and warmup[9] == pytest.approx(0.1) and warmup[50] == pytest.approx(0.1)
    assert not any(math.isnan(v) for v in cosine + linear + warmup)


def test_unknown_schedule_and_bad_option_are_spec_errors_naming_them():
    with pytest.raises((SpecError, ValueError), match="cosin"):
        ScheduleSpec(name="cosin")
    with pytest.raises((SpecError, ValueError), match="gamma"):
        ScheduleSpec(name="step", options={"gamma": 2.0})
