"""One training step: ``n_critic`` discriminator updates then one generator update.

Framework-free: plain torch, testable alone. Under DDP it needs only ``world``/``rank`` and a
process group: gradients are averaged with one flat all-reduce per update instead of wrapping
G and D in DistributedDataParallel. A GAN step runs D forward several times per backward
(real, fake, gradient-penalty interpolates with double backward) and runs D inside G's update,
patterns DDP's reducer handles badly or not at all; averaging gradients by hand (as
stylegan2-ada-pytorch does) is exact for every loss and regularizer. The losses are appended
to the same all-reduce, so every rank sees the same (global mean) losses and agrees on
stopping when one is non-finite.

Host reads: on a CPU a step reads its losses at every update (free there). On a GPU
(``StepConfig.sync_free``) reading them would drain the GPU's queue, so the step never does:
``LossGuard`` keeps the losses on the device, skips the optimizer step on the device when a
loss is non-finite (and every update after it: the run's state stays as it was at that update),
and ``LossGuard.check`` raises the same ``NonFiniteLossError`` when the loop reads the losses at
its next log, sample, evaluation or checkpoint boundary. Precision, channels_last, compile and
the other device-specific choices come from train/precision.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

from ganforge.losses.regularizers import DContext, GContext
from ganforge.noise import BatchRandom
from ganforge.train import precision as device_policy


class NonFiniteLossError(RuntimeError):
    """A loss became NaN/inf; the update was not applied. ``step``: the step it happened at."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


def non_finite_message(values: dict[str, float], step: int, advice: str) -> str | None:
    """The error for ``values`` (name -> averaged loss) at ``step``, or None when all are finite."""
    bad = [name for name, value in values.items() if not math.isfinite(value)]
    if not bad:
        return None
    return f"non-finite {', '.join(bad)} at step {step} ({values}); the update was not applied. {advice}"


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
    precision: str = "fp32"  # train.precision: autocast dtype of the adversarial forwards
    sync_free: bool = False  # defer host reads of the losses (GPU); see LossGuard
    channels_last: bool = False
    compile: bool = False
    augment: Callable | None = None  # fn(x, rng) -> x applied to real and fake (DiffAugment, ADA)
    # fn(D's outputs on the augmented reals), called after each D update on every rank (ADA's r_t, the overfitting monitor)
    observe_real: list = field(default_factory=list)
    scalers: dict = field(default_factory=dict)  # "d"/"g" -> GradScaler (fp16)


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


def host_values(metrics: dict) -> dict[str, float]:
    """``metrics`` as floats (a deferred step's values are device tensors: this reads them)."""
    return {key: float(value) for key, value in metrics.items()}


def _optimizer_step(optimizer, scaler) -> None:
    if scaler is None:
        optimizer.step()
    else:  # fp16: unscale, skip on overflowing gradients (not a divergence), adapt the scale
        scaler.step(optimizer)
        scaler.update()


def apply_update(optimizer, params: list[nn.Parameter], losses: torch.Tensor, names: list[str], step: int,
                 world: int, advice: str, guard: "LossGuard | None" = None, scaler=None) -> dict:
    """Average gradients and losses over the ranks, refuse a non-finite loss (every rank sees the
    same averaged values, so all stop together), else step ``optimizer``; returns the losses.

    Without a ``guard`` (or with an immediate one) the losses are read here: floats back, and
    NonFiniteLossError before the step. A deferred guard reads nothing: the step is applied on
    the device only if every loss is finite, the values come back as 0-d device tensors and the
    error comes from ``guard.check()``. ``scaler``: fp16's GradScaler for this optimizer.
    """
    averaged = average_gradients(params, losses, world)
    if guard is None or not guard.deferred:
        values = dict(zip(names, averaged.tolist()))
        message = non_finite_message(values, step, advice)
        if message:
            raise NonFiniteLossError(message, step)
        _optimizer_step(optimizer, scaler)
        return values
    apply = guard.admit(averaged, names, step, advice)
    guard.guarded(apply, optimizer_tensors(optimizer), lambda: _optimizer_step(optimizer, scaler))
    return dict(zip(names, averaged.unbind()))


def optimizer_tensors(optimizer) -> list[torch.Tensor]:
    """The parameters and the per-parameter state tensors an optimizer step writes."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    states = [t for p in params for t in optimizer.state.get(p, {}).values()
              if torch.is_tensor(t) and t.device == p.device]
    return params + states


class LossGuard:
    """Refuses non-finite losses, immediately (``deferred`` False: apply_update reads them) or
    without a host read (``deferred`` True): each update's averaged losses are kept on the
    device with an ``apply`` flag (all finite and none non-finite before), and ``check()`` reads
    them all at once, raising the error an immediate read would have raised at that update."""

    MAX_PENDING = 1024  # a caller that never checks (a benchmark's bare loop) still reads now and then

    def __init__(self, deferred: bool):
        self.deferred = deferred
        self.pending: list[tuple[int, list[str], torch.Tensor, str]] = []
        self.healthy: torch.Tensor | None = None  # device bool: no non-finite loss since the last check

    def admit(self, losses: torch.Tensor, names: list[str], step: int, advice: str) -> torch.Tensor:
        """Record one update's losses; returns the device flag: apply this update."""
        if len(self.pending) >= self.MAX_PENDING:
            self.check()
        finite = torch.isfinite(losses).all()
        self.healthy = finite if self.healthy is None else self.healthy & finite
        self.pending.append((step, list(names), losses, advice))
        return self.healthy

    @staticmethod
    @torch.no_grad()
    def guarded(apply: torch.Tensor, tensors: list[torch.Tensor], update: Callable[[], None]) -> None:
        """Run ``update`` (which writes ``tensors`` and may create more optimizer state), then
        put back the old values where ``apply`` is False, on the device: no host read."""
        before = [t.clone() for t in tensors]
        update()
        for tensor, old in zip(tensors, before):
            tensor.copy_(torch.where(apply, tensor, old))

    def check(self) -> None:
        """Read every pending update's losses (one host sync); raise NonFiniteLossError for the
        first non-finite one, with the message an immediate read gives."""
        if not self.pending:
            return
        pending, self.pending, self.healthy = self.pending, [], None
        read = torch.cat([losses.reshape(-1) for _, _, losses, _ in pending]).tolist()
        offset = 0
        for step, names, _, advice in pending:
            values = dict(zip(names, read[offset : offset + len(names)]))
            offset += len(names)
            message = non_finite_message(values, step, advice)
            if message:
                raise NonFiniteLossError(message, step)


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; buffers (BN statistics) are copied.

    One foreach kernel per list instead of one per tensor (bit for bit the same values)."""
    torch._foreach_lerp_(list(ema.parameters()), [p.detach() for p in model.parameters()], 1.0 - decay)
    ema_buffers, buffers = list(ema.buffers()), list(model.buffers())
    if ema_buffers:
        torch._foreach_copy_(ema_buffers, buffers)


class DeviceRandom(BatchRandom):
    """BatchRandom whose draws reach a GPU through pinned memory, without a host wait."""

    def _local(self, full: torch.Tensor) -> torch.Tensor:
        return device_policy.to_device(full[self.rank :: self.world], self.device)


class GanStep:
    """Runs training steps on ``GanModules`` with a loss and regularizers."""

    ADVICE = "Lower the learning rate, add a gradient penalty or spectral norm, or enable EMA."

    def __init__(self, modules: GanModules, loss, regularizers: list, config: StepConfig):
        self.m, self.loss, self.regularizers, self.cfg = modules, loss, regularizers, config
        self.num_classes = getattr(modules.G, "num_classes", 0)
        self.z_dim = modules.G.z_dim
        self.guard = LossGuard(deferred=config.sync_free)  # the loop calls guard.check() at its boundaries
        # The step's forwards (compiled when asked); regularizers get the modules themselves
        # (double backward, which compiled graphs do not support).
        self.G = device_policy.compiled(modules.G, config.compile)
        self.D = device_policy.compiled(modules.D, config.compile)
        self.layout = device_policy.memory_format(config.channels_last)

    def _rng(self, step: int, purpose: str) -> BatchRandom:
        return DeviceRandom(self.cfg.seed, step, purpose, self.cfg.rank, self.cfg.world, self.cfg.device)

    def _autocast(self):
        return device_policy.autocast(self.cfg.precision, self.cfg.device)

    def _regularized(self, terms):
        """Regularizer terms (GP, R1: input gradients, double backward) in fp32 whatever the precision."""
        with device_policy.full_precision(self.cfg.device):
            return list(terms)

    def _backward(self, total: torch.Tensor, key: str) -> None:
        scaler = self.cfg.scalers.get(key)
        (scaler.scale(total) if scaler is not None else total).backward()

    def _images(self, real: torch.Tensor) -> torch.Tensor:
        return real.contiguous(memory_format=self.layout) if self.cfg.channels_last else real

    def _augment(self, x: torch.Tensor, rng: BatchRandom) -> torch.Tensor:
        return self.cfg.augment(x, rng) if self.cfg.augment else x

    def latents(self, batch: int, step: int, purpose: str):
        """(z, y): latents and (for conditional models) uniformly drawn fake labels."""
        rng = self._rng(step, purpose)
        z = rng.randn(batch, self.z_dim)
        y = rng.randint(0, self.num_classes, batch) if self.num_classes else None
        return z, y

    def _apply(self, optimizer, params, losses: torch.Tensor, names: list[str], step: int, key: str) -> dict:
        return apply_update(optimizer, params, losses, names, step, self.cfg.world, self.ADVICE,
                            guard=self.guard, scaler=self.cfg.scalers.get(key))

    def d_update(self, real: torch.Tensor, y_real, step: int, k: int) -> dict:
        """One discriminator update on a real batch; returns averaged loss terms."""
        m = self.m
        set_requires_grad(m.D, True)
        m.opt_d.zero_grad(set_to_none=True)
        z, y_fake = self.latents(real.shape[0], step, f"z-d{k}")
        aug = self._rng(step, f"aug-d{k}")
        real = self._images(real)
        with self._autocast():
            with torch.no_grad():
                fake = self.G(z, y_fake)
            y_real = y_real if self.num_classes else None
            real_out = self.D(self._augment(real, aug), y_real)
            fake_out = self.D(self._augment(fake, aug), y_fake)
            adv = self.loss.d_loss(real_out, fake_out)
        ctx = DContext(m.D, real, fake.float(), y_real, real_out, fake_out, self._rng(step, f"reg-d{k}"), z, y_fake)
        terms = [adv] + self._regularized(r.d_term(ctx) for r in self.regularizers)
        names = ["d_loss"] + [f"d_{r.name}" for r in self.regularizers]
        kept = [(n, t) for n, t in zip(names, terms) if t is not None]
        self._backward(sum(t for _, t in kept), "d")
        losses = torch.stack([t.detach().float() for _, t in kept])
        values = self._apply(m.opt_d, list(m.D.parameters()), losses, [n for n, _ in kept], step, "d")
        for observe in self.cfg.observe_real:
            observe(real_out)
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
            fake = self.G(z, y_fake)
            fake_out = self.D(self._augment(fake, aug), y_fake)
            real_out = None
            if self.loss.uses_real_in_g:
                real_out = self.D(self._augment(self._images(real), aug), y_real if self.num_classes else None)
            adv = self.loss.g_loss(fake_out, real_out)
        ctx = GContext(m.G, m.D, z, y_fake, fake, fake_out, self._rng(step, "reg-g"))
        terms = [("g_loss", adv)] + list(zip([f"g_{r.name}" for r in self.regularizers],
                                             self._regularized(r.g_term(ctx) for r in self.regularizers)))
        kept = [(n, t) for n, t in terms if t is not None]
        self._backward(sum(t for _, t in kept), "g")
        losses = torch.stack([t.detach().float() for _, t in kept])
        values = self._apply(m.opt_g, list(m.G.parameters()), losses, [n for n, _ in kept], step, "g")
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
            ema = lambda: update_ema(self.m.G_ema, self.m.G, decay)  # noqa: E731
            if self.guard.deferred:  # after a non-finite loss the EMA stays too
                self.guard.guarded(self.guard.healthy, [*self.m.G_ema.parameters(), *self.m.G_ema.buffers()], ema)
            else:
                ema()
        return metrics
