"""One step of CycleGAN (Zhu et al. 2017): the generators' update on the adversarial, cycle and
identity terms, then the discriminators' update on real images against pooled translations.

The order is the reference code's (``optimize_parameters``): one forward of both generators,
G_AB and G_BA updated together (one optimizer over both), then D_A and D_B (one optimizer over
both) on the translations of that same forward, each drawn through its image pool. Terms:

- ``g_ab_loss`` = adversarial x g_loss(D_B(G_AB(a))), ``g_ba_loss`` likewise with D_A;
- ``g_cycle_a`` = cycle x |G_BA(G_AB(a)) - a|_1 (mean), ``g_cycle_b`` = cycle x |G_AB(G_BA(b)) - b|_1;
- ``g_identity_ab`` = identity x |G_AB(b) - b|_1, ``g_identity_ba`` = identity x |G_BA(a) - a|_1;
- ``d_a_loss`` = d_loss(D_A(a), D_A(pool_a(G_BA(b)))), ``d_b_loss`` likewise.

A term of weight 0 is not computed; without an adversarial term D is never updated. Framework-free
and exact under DDP as the other steps: every update goes through train/step.py's
``apply_update`` (one flat all-reduce of gradients and losses), and the pools see the global
batch with the same draws on every rank (tasks/image_pool.py). ``train.precision`` applies as in
the generate step: the forwards run under train/precision.py's autocast, fp16's loss scalers
(``grad_scaler_g`` / ``_d`` extras) scale each backward and step through ``apply_update``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ganforge.noise import derive_seed
from ganforge.tasks.image_pool import ImagePool, query_global
from ganforge.train.precision import autocast
from ganforge.train.step import GanModules, apply_update, set_requires_grad, update_ema

TERMS = ("adversarial", "cycle", "identity")  # the unpaired task's loss.weights keys
POOLS = ("pool_a", "pool_b")  # GanModules.extras names: translations into A (for D_A) and into B


@dataclass
class UnpairedConfig:
    """How an unpaired step runs: loss weights, the pools' seed, distribution, EMA, precision."""

    weights: dict[str, float]
    seed: int = 0
    rank: int = 0
    world: int = 1
    ema_decay: float = 0.0
    ema_start: int = 0
    precision: str = "fp32"  # train.precision: fp32, bf16 or fp16 (autocast of the forwards)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    scalers: dict = field(default_factory=dict)  # "g"/"d" -> fp16's GradScaler


def add_pools(modules: GanModules, size: int) -> GanModules:
    """Put an empty image pool per discriminator into ``modules.extras`` (saved in checkpoints)."""
    for name in POOLS:
        modules.extras.setdefault(name, ImagePool(size))
    return modules


class UnpairedStep:
    """Runs CycleGAN steps on GanModules whose G is a CycleGenerator and D a CycleDiscriminator."""

    def __init__(self, modules: GanModules, loss, config: UnpairedConfig):
        self.m, self.loss, self.cfg = modules, loss, config
        unknown = sorted(set(config.weights) - set(TERMS))
        if unknown:
            raise ValueError(f"loss.weights: unknown term(s) {unknown}; the unpaired task's terms: {', '.join(TERMS)}")
        self.weights = {name: w for name, w in config.weights.items() if w}
        shape_a, shape_b = modules.G.shape_a, modules.G.shape_b
        if "identity" in self.weights and shape_a[0] != shape_b[0]:
            raise ValueError(f"loss.weights.identity compares G_AB(b) with b, which needs domains of the same channels "
                             f"(A has {shape_a[0]}, B {shape_b[0]}); set data.channels, or loss.weights.identity: 0")
        missing = [name for name in POOLS if name not in modules.extras]
        if missing:
            raise ValueError(f"GanModules.extras lacks {missing}: build the modules with add_pools")

    def _apply(self, key: str, params, losses: torch.Tensor, names: list[str], step: int) -> dict:
        optimizer = self.m.opt_g if key == "g" else self.m.opt_d
        return apply_update(optimizer, params, losses, names, step, self.cfg.world,
                            "Lower the learning rate, or raise loss.weights.cycle.", scaler=self.cfg.scalers.get(key))

    def _backward(self, key: str, total: torch.Tensor) -> None:
        scaler = self.cfg.scalers.get(key)
        (scaler.scale(total) if scaler is not None else total).backward()

    def _adversarial(self, fake: torch.Tensor, real: torch.Tensor, domain: str) -> torch.Tensor:
        real_out = self.m.D(real, domain) if self.loss.uses_real_in_g else None
        return self.loss.g_loss(self.m.D(fake, domain), real_out)

    def g_terms(self, a: torch.Tensor, b: torch.Tensor) -> tuple[list[tuple[str, torch.Tensor]], dict]:
        """(metric name, weighted term) for every term with a weight, and the translations
        {"fake_b": G_AB(a), "fake_a": G_BA(b)} (D frozen by the caller)."""
        G, w = self.m.G, self.weights
        fake_b, fake_a = G(a, "a2b"), G(b, "b2a")
        terms = []
        if "adversarial" in w:
            terms += [("g_ab_loss", w["adversarial"] * self._adversarial(fake_b, b, "b")),
                      ("g_ba_loss", w["adversarial"] * self._adversarial(fake_a, a, "a"))]
        if "cycle" in w:
            terms += [("g_cycle_a", w["cycle"] * F.l1_loss(G(fake_b, "b2a"), a)),
                      ("g_cycle_b", w["cycle"] * F.l1_loss(G(fake_a, "a2b"), b))]
        if "identity" in w:
            terms += [("g_identity_ab", w["identity"] * F.l1_loss(G(b, "a2b"), b)),
                      ("g_identity_ba", w["identity"] * F.l1_loss(G(a, "b2a"), a))]
        return terms, {"fake_b": fake_b, "fake_a": fake_a}

    def g_update(self, a: torch.Tensor, b: torch.Tensor, step: int) -> tuple[dict, dict]:
        """Both generators' update on the sum of their terms; returns (losses, translations)."""
        m = self.m
        set_requires_grad(m.D, False)
        m.opt_g.zero_grad(set_to_none=True)
        with autocast(self.cfg.precision, self.cfg.device):
            terms, fakes = self.g_terms(a, b)
        self._backward("g", sum(value.float() for _, value in terms))
        losses = torch.stack([value.detach().float() for _, value in terms])
        values = self._apply("g", list(m.G.parameters()), losses, [name for name, _ in terms], step)
        set_requires_grad(m.D, True)
        return values, fakes

    def pooled(self, fakes: dict, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(translations into A, into B) drawn through the pools with this step's seeded draws."""
        drawn = []
        for name, key in zip(POOLS, ("fake_a", "fake_b")):
            generator = torch.Generator().manual_seed(derive_seed(self.cfg.seed, step, name))
            drawn.append(query_global(self.m.extras[name], fakes[key], generator, self.cfg.rank, self.cfg.world))
        return drawn[0], drawn[1]

    def d_update(self, a: torch.Tensor, b: torch.Tensor, fakes: dict, step: int) -> dict:
        """Both discriminators' update: real images against pooled translations."""
        m = self.m
        set_requires_grad(m.D, True)
        m.opt_d.zero_grad(set_to_none=True)
        fake_a, fake_b = self.pooled(fakes, step)
        with autocast(self.cfg.precision, self.cfg.device):
            d_a = self.loss.d_loss(m.D(a, "a"), m.D(fake_a, "a")).float()
            d_b = self.loss.d_loss(m.D(b, "b"), m.D(fake_b, "b")).float()
        self._backward("d", d_a + d_b)
        losses = torch.stack([d_a.detach(), d_b.detach()])
        return self._apply("d", list(m.D.parameters()), losses, ["d_a_loss", "d_b_loss"], step)

    def __call__(self, batches: list[tuple[torch.Tensor, torch.Tensor]], step: int) -> dict:
        """A full step on one (a, b) batch: G's update, then D's (when there is an adversarial term)."""
        if len(batches) != 1:
            raise ValueError(f"the unpaired step takes one (a, b) batch per step, got {len(batches)} (loss.n_critic: 1)")
        a, b = batches[0]
        metrics, fakes = self.g_update(a, b, step)
        if "adversarial" in self.weights:
            metrics.update(self.d_update(a, b, fakes, step))
            self.m.sched_d.step()
        self.m.sched_g.step()
        if self.m.G_ema is not None:
            update_ema(self.m.G_ema, self.m.G, self.cfg.ema_decay if step >= self.cfg.ema_start else 0.0)
        return metrics
