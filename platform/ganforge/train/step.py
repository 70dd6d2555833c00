"""One training step: ``n_critic`` discriminator updates then one generator update.

Framework-free: plain torch, testable alone. Under DDP it needs only ``world``/``rank`` and a
process group: gradients are averaged with one flat all-reduce per update instead of wrapping
G and D in DistributedDataParallel. A GAN step runs D forward several times per backward
(real, fake, gradient-penalty interpolates with double backward) and runs D inside G's update,
patterns DDP's reducer handles badly or not at all; averaging gradients by hand (as
stylegan2-ada-pytorch does) is exact for every loss and regularizer. The losses are appended
to the same all-reduce, so every rank sees the same (global mean) losses and agrees on
stopping when one is non-finite.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

from ganforge.losses.regularizers import DContext, GContext
from ganforge.noise import BatchRandom


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/inf; the update was not applied."""


@dataclass
class GanModules:
    """Everything a step updates (and a checkpoint holds)."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sched_g: object
    sched_d: object
    # Other training state a checkpoint must carry for exact resume (an image pool, ADA's p, a
    # GradScaler): name -> object with state_dict()/load_state_dict(); saved under "extras".
    extras: dict = field(default_factory=dict)


@dataclass
class StepConfig:
    """How a step runs: seeds, distribution, augmentation, EMA, precision."""

    seed: int = 0
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    ema_decay: float = 0.0
    ema_start: int = 0
    amp: bool = False
    augment: Callable | None = None  # fn(x, rng) -> x applied to real and fake (DiffAugment)


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze/unfreeze ``module``'s parameters (D is frozen during G's update)."""
    for param in module.parameters():
        param.requires_grad_(flag)


def average_gradients(params: list[nn.Parameter], losses: torch.Tensor, world: int) -> torch.Tensor:
    """All-reduce-mean the gradients of ``params`` and ``losses`` in one flat buffer.

    Returns the averaged losses. A no-op (but for the copy) with a single process.
    """
    if world == 1:
        return losses.detach()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads] + [losses.detach().reshape(-1)])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for param, grad in zip(params, grads):
        count = grad.numel()
        param.grad = flat[offset : offset + count].view_as(grad).clone()
        offset += count
    return flat[offset:]


def apply_update(optimizer, params: list[nn.Parameter], losses: torch.Tensor, names: list[str], step: int,
                 world: int, advice: str) -> dict[str, float]:
    """Average gradients and losses over the ranks, refuse a non-finite loss (every rank sees the
    same averaged values, so all stop together), else step ``optimizer``; returns the losses."""
    averaged = average_gradients(params, losses, world)
    values = dict(zip(names, averaged.tolist()))
    bad = [name for name, value in values.items() if not torch.isfinite(torch.tensor(value))]
    if bad:
        raise NonFiniteLossError(f"non-finite {', '.join(bad)} at step {step} ({values}); the update was not applied. {advice}")
    optimizer.step()
    return values


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; buffers (BN statistics) are copied."""
    for ema_p, p in zip(ema.parameters(), model.parameters()):
        ema_p.lerp_(p.detach(), 1.0 - decay)
    for ema_b, b in zip(ema.buffers(), model.buffers()):
        ema_b.copy_(b)


class GanStep:
    """Runs training steps on ``GanModules`` with a loss and regularizers."""

    def __init__(self, modules: GanModules, loss, regularizers: list, config: StepConfig):
        self.m, self.loss, self.regularizers, self.cfg = modules, loss, regularizers, config
        self.num_classes = getattr(modules.G, "num_classes", 0)
        self.z_dim = modules.G.z_dim

    def _rng(self, step: int, purpose: str) -> BatchRandom:
        return BatchRandom(self.cfg.seed, step, purpose, self.cfg.rank, self.cfg.world, self.cfg.device)

    def _autocast(self):
        if self.cfg.amp and self.cfg.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _augment(self, x: torch.Tensor, rng: BatchRandom) -> torch.Tensor:
        return self.cfg.augment(x, rng) if self.cfg.augment else x

    def latents(self, batch: int, step: int, purpose: str):
        """(z, y): latents and (for conditional models) uniformly drawn fake labels."""
        rng = self._rng(step, purpose)
        z = rng.randn(batch, self.z_dim)
        y = rng.randint(0, self.num_classes, batch) if self.num_classes else None
        return z, y

    def _apply(self, optimizer, params, losses: torch.Tensor, names: list[str], step: int) -> dict:
        return apply_update(optimizer, params, losses, names, step, self.cfg.world,
                            "Lower the learning rate, add a gradient penalty or spectral norm, or enable EMA.")

    def d_update(self, real: torch.Tensor, y_real, step: int, k: int) -> dict:
        """One discriminator update on a real batch; returns averaged loss terms."""
        m = self.m
        set_requires_grad(m.D, True)
        m.opt_d.zero_grad(set_to_none=True)
        z, y_fake = self.latents(real.shape[0], step, f"z-d{k}")
        aug = self._rng(step, f"aug-d{k}")
        with self._autocast():
            with torch.no_grad():
                fake = m.G(z, y_fake)
            y_real = y_real if self.num_classes else None
            real_out = m.D(self._augment(real, aug), y_real)
            fake_out = m.D(self._augment(fake, aug), y_fake)
            adv = self.loss.d_loss(real_out, fake_out)
        ctx = DContext(m.D, real, fake, y_real, real_out, fake_out, self._rng(step, f"reg-d{k}"), z, y_fake)
        terms = [adv] + [r.d_term(ctx) for r in self.regularizers]
        names = ["d_loss"] + [f"d_{r.name}" for r in self.regularizers]
        kept = [(n, t) for n, t in zip(names, terms) if t is not None]
        total = sum(t for _, t in kept)
        total.backward()
        losses = torch.stack([t.detach().float() for _, t in kept])
        values = self._apply(m.opt_d, list(m.D.parameters()), losses, [n for n, _ in kept], step)
        for reg in self.regularizers:
            reg.after_d_step(m.D)
        return values

    def g_update(self, real: torch.Tensor, y_real, step: int) -> dict:
        """One generator update (D frozen); returns averaged loss terms."""
        m = self.m
        set_requires_grad(m.D, False)
        m.opt_g.zero_grad(set_to_none=True)
        z, y_fake = self.latents(real.shape[0], step, "z-g")
        aug = self._rng(step, "aug-g")
        with self._autocast():
            fake = m.G(z, y_fake)
            fake_out = m.D(self._augment(fake, aug), y_fake)
            real_out = None
            if self.loss.uses_real_in_g:
                real_out = m.D(self._augment(real, aug), y_real if self.num_classes else None)
            adv = self.loss.g_loss(fake_out, real_out)
        ctx = GContext(m.G, m.D, z, y_fake, fake, fake_out, self._rng(step, "reg-g"))
        terms = [("g_loss", adv)] + [(f"g_{r.name}", r.g_term(ctx)) for r in self.regularizers]
        kept = [(n, t) for n, t in terms if t is not None]
        sum(t for _, t in kept).backward()
        losses = torch.stack([t.detach().float() for _, t in kept])
        values = self._apply(m.opt_g, list(m.G.parameters()), losses, [n for n, _ in kept], step)
        set_requires_grad(m.D, True)
        return values

    def __call__(self, batches: list[tuple[torch.Tensor, torch.Tensor]], step: int) -> dict:
        """A full step: one D update per batch in ``batches`` (n_critic), then one G update."""
        metrics: dict[str, float] = {}
        for k, (real, y) in enumerate(batches):
            metrics.update(self.d_update(real, y, step, k))
        metrics.update(self.g_update(batches[-1][0], batches[-1][1], step))
        self.m.sched_d.step()
        self.m.sched_g.step()
        if self.m.G_ema is not None:
            decay = self.cfg.ema_decay if step >= self.cfg.ema_start else 0.0
            update_ema(self.m.G_ema, self.m.G, decay)
        return metrics
