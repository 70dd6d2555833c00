"""Optimizer and learning-rate schedule registries, shared by ``train`` and ``tune``."""
from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field

from ganforge.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer")
SCHEDULERS: Registry = Registry("schedule")


@OPTIMIZERS.register("adam")
def adam(params, spec):
    """Adam (Kingma & Ba 2015); DCGAN's betas (0.5, 0.999) are the spec default."""
    return torch.optim.Adam(params, lr=spec.lr, betas=tuple(spec.betas), eps=spec.eps, weight_decay=spec.weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(params, spec):
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter 2019)."""
    return torch.optim.AdamW(params, lr=spec.lr, betas=tuple(spec.betas), eps=spec.eps, weight_decay=spec.weight_decay)


@OPTIMIZERS.register("rmsprop")
def rmsprop(params, spec):
    """RMSProp (WGAN's optimizer)."""
    return torch.optim.RMSprop(params, lr=spec.lr, momentum=spec.momentum, eps=spec.eps, weight_decay=spec.weight_decay)


@OPTIMIZERS.register("sgd")
def sgd(params, spec):
    """SGD with (heavy-ball) momentum."""
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay)


@OPTIMIZERS.register("nesterov")
def nesterov(params, spec):
    """SGD with Nesterov momentum."""
    return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum or 0.9, nesterov=True,
                           weight_decay=spec.weight_decay)


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepOptions(_Options):
    step_size: int = Field(1000, ge=1, description="steps between decays")
    gamma: float = Field(0.5, gt=0, le=1, description="factor applied every step_size steps")


class ExponentialOptions(_Options):
    gamma: float = Field(0.999, gt=0, le=1, description="factor applied every step")


class DecayOptions(_Options):
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final lr as a fraction of the initial lr")


class WarmupOptions(_Options):
    warmup_steps: int = Field(500, ge=1, description="steps of linear warm-up from 0 to the lr")


def _lambda(optimizer, fn):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)


@SCHEDULERS.register("none")
class NoSchedule:
    """Constant learning rate."""

    @staticmethod
    def build(optimizer, options, total_steps):
        return _lambda(optimizer, lambda step: 1.0)


@SCHEDULERS.register("step")
class StepSchedule:
    """Multiply the lr by gamma every step_size steps."""

    Options = StepOptions

    @staticmethod
    def build(optimizer, options, total_steps):
        return torch.optim.lr_scheduler.StepLR(optimizer, options["step_size"], options["gamma"])


@SCHEDULERS.register("exponential")
class ExponentialSchedule:
    """Multiply the lr by gamma every step."""

    Options = ExponentialOptions

    @staticmethod
    def build(optimizer, options, total_steps):
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, options["gamma"])


@SCHEDULERS.register("cosine")
class CosineSchedule:
    """Cosine annealing over the whole run (Loshchilov & Hutter 2017, no restarts)."""

    Options = DecayOptions

    @staticmethod
    def build(optimizer, options, total_steps):
        floor = options["min_lr_ratio"]
        return _lambda(optimizer, lambda step: floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))


@SCHEDULERS.register("linear")
class LinearSchedule:
    """Linear decay from the lr to min_lr_ratio x lr over the run (SNGAN's and BigGAN's schedule)."""

    Options = DecayOptions

    @staticmethod
    def build(optimizer, options, total_steps):
        floor = options["min_lr_ratio"]
        return _lambda(optimizer, lambda step: 1.0 - (1.0 - floor) * min(step, total_steps) / total_steps)


class HoldDecayOptions(DecayOptions):
    hold_fraction: float = Field(0.5, ge=0, lt=1, description="fraction of the run at the full lr before the decay starts")


@SCHEDULERS.register("constant-linear")
class ConstantThenLinearSchedule:
    """The full lr for hold_fraction of the run, then linear decay to min_lr_ratio x lr
    (pix2pix's and CycleGAN's: 100 epochs constant, 100 decaying)."""

    Options = HoldDecayOptions

    @staticmethod
    def build(optimizer, options, total_steps):
        floor, hold = options["min_lr_ratio"], int(options["hold_fraction"] * total_steps)
        span = max(1, total_steps - hold)
        return _lambda(optimizer, lambda step: 1.0 - (1.0 - floor) * min(max(step - hold, 0), span) / span)


@SCHEDULERS.register("warmup")
class WarmupSchedule:
    """Linear warm-up from 0 to the lr over warmup_steps, then constant."""

    Options = WarmupOptions

    @staticmethod
    def build(optimizer, options, total_steps):
        warm = options["warmup_steps"]
        return _lambda(optimizer, lambda step: min(1.0, (step + 1) / warm))


def build_optimizer(params, spec):
    """The optimizer an OptimizerSpec names, over ``params``."""
    return OPTIMIZERS.get(spec.name)(params, spec)


def build_scheduler(optimizer, spec, total_steps: int):
    """The LR scheduler a ScheduleSpec names; stepped once per training step."""
    return SCHEDULERS.get(spec.name).build(optimizer, spec.options, total_steps)
