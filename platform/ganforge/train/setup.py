"""Build everything a training step needs from a spec: models, optimizers, schedules, loss."""
from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from ganforge.losses import build_loss
from ganforge.models import build_models
from ganforge.models.layers import convert_to_cross_replica_bn
from ganforge.noise import derive_seed
from ganforge.train import precision as device_policy
from ganforge.train.optim import build_optimizer, build_scheduler
from ganforge.train.step import GanModules, GanStep, StepConfig


def build_modules(spec, img_shape, num_classes: int, world: int = 1,
                  device: torch.device | str = "cpu") -> GanModules:
    """G, D, EMA-G, optimizers and schedules of a generate model, identically initialised on every rank."""
    return modules_from(spec, lambda: build_models(spec.model, img_shape, num_classes), world, device)


def modules_from(spec, build_pair: Callable[[], tuple[nn.Module, nn.Module]], world: int = 1,
                 device: torch.device | str = "cpu") -> GanModules:
    """GanModules around the (G, D) ``build_pair`` makes (any task's): seeded, cross-replica BN
    under DDP, on ``device``, with EMA-G, optimizers and schedules."""
    # Same seed on every rank: DDP needs identical initial weights (and spectral norm vectors).
    torch.manual_seed(derive_seed(spec.train.seed, "init"))
    G, D = build_pair()
    if world > 1:
        # Batch statistics must span the global batch for a DDP step to equal a 1-process step.
        G, D = convert_to_cross_replica_bn(G), convert_to_cross_replica_bn(D)
    layout = device_policy.memory_format(spec.train.channels_last)
    G, D = G.to(device, memory_format=layout), D.to(device, memory_format=layout)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if spec.train.ema > 0 else None
    opt_g = build_optimizer(G.parameters(), spec.optim.g)
    opt_d = build_optimizer(D.parameters(), spec.optim.d)
    steps = spec.train.steps
    return GanModules(G, D, G_ema, opt_g, opt_d,
                      build_scheduler(opt_g, spec.schedule, steps), build_scheduler(opt_d, spec.schedule, steps))


def build_step(spec, modules: GanModules, rank: int = 0, world: int = 1,
               device: torch.device | str = "cpu") -> GanStep:
    """The GanStep for ``spec`` over ``modules``."""
    loss, regularizers = build_loss(spec.loss)
    augment = None
    if spec.augment.diffaugment:
        from ganforge.augment import diff_augment

        policy = spec.augment.diffaugment
        augment = lambda x, rng: diff_augment(x, policy, rng)  # noqa: E731
    observers = []
    if spec.augment.ada is not None:  # the spec refuses ADA with DiffAugment
        from ganforge.augment.ada_control import build_ada

        augment, observe = build_ada(spec.augment.ada, modules.extras, world)
        observers.append(observe)
    device = torch.device(device)
    train = spec.train
    config = StepConfig(seed=train.seed, rank=rank, world=world, device=device, ema_decay=train.ema,
                        ema_start=train.ema_start, precision=train.precision,
                        sync_free=device_policy.sync_free(device), channels_last=train.channels_last,
                        compile=train.compile, augment=augment, scalers=grad_scalers(spec, modules, device),
                        observe_real=observers)
    return GanStep(modules, loss, regularizers, config)


def grad_scalers(spec, modules: GanModules, device: torch.device) -> dict:
    """fp16's loss scalers, one per optimizer ("d", "g"), registered as checkpoint extras."""
    scalers = {}
    for key in ("d", "g"):
        scaler = device_policy.grad_scaler(spec.train.precision, device)
        if scaler is not None:
            scalers[key] = scaler
            modules.extras[f"grad_scaler_{key}"] = device_policy.ScalerState(scaler)
    return scalers


def sampling_generator(modules: GanModules) -> torch.nn.Module:
    """The generator to sample and evaluate: the EMA one when EMA is on."""
    return modules.G_ema if modules.G_ema is not None else modules.G
