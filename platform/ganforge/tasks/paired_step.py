"""One step of a paired translation model: D on (input, target) against (input, G(input)), then
G on the adversarial term plus its pixel and content terms against the target.

Framework-free like train/step.py, and exact under DDP the same way: gradients and losses are
averaged with one flat all-reduce per update (``average_gradients``), so 2 workers with B pairs
each update exactly as 1 worker with the 2B pairs (BatchNorm statistics span the global batch
through cross-replica BN, as for the generate task). A term whose weight is 0 is not computed;
with no adversarial term (SRResNet's MSE training) D is never updated.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.train.step import GanModules, apply_update, set_requires_grad, update_ema



@dataclass
class PairedConfig:
    """How a paired step runs: loss weights, distribution, EMA."""

    weights: dict[str, float]
    world: int = 1
    ema_decay: float = 0.0
    ema_start: int = 0


def content_distance(network: nn.Module, fake: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE between the content network's features of ``fake`` and of ``target`` (target's
    features carry no gradient)."""
    with torch.no_grad():
        wanted = network(target)
    return F.mse_loss(network(fake), wanted)


class PairedStep:
    """Runs steps of G(input) -> target with an adversarial loss and weighted pixel/content terms."""

    def __init__(self, modules: GanModules, loss, config: PairedConfig, content_network: nn.Module | None = None):
        self.m, self.loss, self.cfg, self.content = modules, loss, config, content_network
        self.weights = {name: w for name, w in config.weights.items() if w}
        if "content" in self.weights and content_network is None:
            raise ValueError("loss.weights.content is set but no content network was built")

    def _apply(self, optimizer, params, losses: torch.Tensor, names: list[str], step: int) -> dict:
        return apply_update(optimizer, params, losses, names, step, self.cfg.world,
                            "Lower the learning rate or the adversarial weight.")

    def d_update(self, source: torch.Tensor, target: torch.Tensor, step: int) -> dict:
        """One discriminator update: real pairs against translated ones."""
        m = self.m
        set_requires_grad(m.D, True)
        m.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = m.G(source)
        d_loss = self.loss.d_loss(m.D(source, target), m.D(source, fake))
        d_loss.backward()
        return self._apply(m.opt_d, list(m.D.parameters()), d_loss.detach().float().reshape(1), ["d_loss"], step)

    def _adversarial(self, source, fake, target):
        real_out = self.m.D(source, target) if self.loss.uses_real_in_g else None
        return self.loss.g_loss(self.m.D(source, fake), real_out)

    def _l1(self, source, fake, target):
        return F.l1_loss(fake, target)

    def _mse(self, source, fake, target):
        return F.mse_loss(fake, target)

    def _content(self, source, fake, target):
        return content_distance(self.content, fake, target)

    def g_terms(self, source: torch.Tensor, target: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        """(metric name, weighted term) for every term with a weight (D frozen by the caller)."""
        fake = self.m.G(source)
        return [(TERMS[name][0], weight * TERMS[name][1](self, source, fake, target))
                for name, weight in self.weights.items()]

    def g_update(self, source: torch.Tensor, target: torch.Tensor, step: int) -> dict:
        """One generator update on the weighted sum of its terms."""
        m = self.m
        set_requires_grad(m.D, False)
        m.opt_g.zero_grad(set_to_none=True)
        terms = self.g_terms(source, target)
        sum(value for _, value in terms).backward()
        losses = torch.stack([value.detach().float() for _, value in terms])
        values = self._apply(m.opt_g, list(m.G.parameters()), losses, [name for name, _ in terms], step)
        set_requires_grad(m.D, True)
        return values

    def __call__(self, batches: list[tuple[torch.Tensor, torch.Tensor]], step: int) -> dict:
        """A full step: one D update per batch (when there is an adversarial term), one G update."""
        metrics: dict[str, float] = {}
        if "adversarial" in self.weights:
            for source, target in batches:
                metrics.update(self.d_update(source, target, step))
        metrics.update(self.g_update(*batches[-1], step))
        if "adversarial" in self.weights:  # D's schedule moves with D's updates
            self.m.sched_d.step()
        self.m.sched_g.step()
        if self.m.G_ema is not None:
            update_ema(self.m.G_ema, self.m.G, self.cfg.ema_decay if step >= self.cfg.ema_start else 0.0)
        return metrics


# loss.weights key -> (the metric it is logged as, how it is computed)
TERMS = {
    "adversarial": ("g_loss", PairedStep._adversarial),
    "l1": ("g_l1", PairedStep._l1),
    "mse": ("g_mse", PairedStep._mse),
    "content": ("g_content", PairedStep._content),
}
