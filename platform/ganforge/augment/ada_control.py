"""ADA's controller: the augmentation probability p, moved by the overfitting heuristic r_t.

r_t = E[sign(D(augmented real))] over the last ``interval`` discriminator minibatches (4), over all
ranks: each rank sums the signs of its logits and counts them; one all-reduce of (sum, count)
per adjustment makes r_t the global batch's value, so a DDP run moves p exactly as one process
with the whole batch would. Then p <- clip(p + sign(r_t - target) * images / (kimg * 1000), 0, 1),
where ``images`` is the number of real images those minibatches held (all ranks): p can cross
from 0 to 1 in ``kimg`` thousand images (500k by default), as in stylegan2-ada-pytorch's
training loop. The controller is a checkpoint extra (``GanModules.extras``): p, the partial
sums and the minibatch count resume exactly.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.distributed as dist

from ganforge.losses import logits_of


class SignMeter:
    """Sums of sign(D(real)) and their count, kept on the logits' device (no sync per batch)."""

    def __init__(self):
        self.total = torch.zeros(())
        self.count = torch.zeros(())

    def add(self, real_out) -> None:
        """Fold in one minibatch of D's outputs on real images."""
        logits = logits_of(real_out).detach().float().reshape(-1)
        self.total = self.total.to(logits.device) + logits.sign().sum()
        self.count = self.count.to(logits.device) + logits.numel()

    def take(self, world: int = 1) -> tuple[float, float]:
        """(mean sign, count) since the last take, summed over ``world`` ranks; resets."""
        stats = torch.stack([self.total, self.count]).double()
        if world > 1:
            dist.all_reduce(stats)  # sums of integers: exact, whatever the split
        total, count = stats.tolist()
        self.total, self.count = torch.zeros(()), torch.zeros(())
        return (total / count if count else 0.0), count

    def state_dict(self) -> dict:
        """The partial sums (a checkpoint between two adjustments resumes them)."""
        return {"total": self.total.detach().cpu().clone(), "count": self.count.detach().cpu().clone()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s sums."""
        self.total, self.count = state["total"].clone(), state["count"].clone()


class AdaController:
    """Holds p; :meth:`observe` D's real outputs after each D update, and p adjusts every ``interval``."""

    def __init__(self, target: float = 0.6, interval: int = 4, kimg: float = 500.0, p: float = 0.0,
                 world: int = 1):
        self.target, self.interval, self.kimg, self.world = target, interval, kimg, world
        self.p = float(p)
        self.r_t = float("nan")  # the last adjustment's r_t (NaN until the first)
        self.batches = 0
        self.meter = SignMeter()

    def observe(self, real_out) -> None:
        """One discriminator minibatch's outputs on (augmented) reals; adjusts p every ``interval``.

        Every rank calls this equally often (once per D update), so the all-reduce lines up.
        """
        self.meter.add(real_out)
        self.batches += 1
        if self.batches % self.interval == 0:
            self.adjust()

    def adjust(self) -> None:
        """r_t over the minibatches since the last adjustment (all ranks), then move p."""
        self.r_t, images = self.meter.take(self.world)
        direction = (self.r_t > self.target) - (self.r_t < self.target)
        self.p = min(max(self.p + direction * images / (self.kimg * 1000), 0.0), 1.0)

    def metrics(self) -> dict[str, float]:
        """What the run logs: ``ada_p`` and (after the first adjustment) ``ada_r_t``."""
        values = {"ada_p": self.p}
        if self.r_t == self.r_t:
            values["ada_r_t"] = self.r_t
        return values

    def state_dict(self) -> dict:
        """p, the last r_t, the minibatch count and the partial sums."""
        return {"p": torch.tensor(self.p, dtype=torch.float64), "r_t": torch.tensor(self.r_t, dtype=torch.float64),
                "batches": torch.tensor(self.batches), "meter": self.meter.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self.p, self.r_t = float(state["p"]), float(state["r_t"])
        self.batches = int(state["batches"])
        self.meter.load_state_dict(state["meter"])


class AdaAugment:
    """The step's augment callable under ADA: ``fn(x, rng)`` at the controller's current p."""

    def __init__(self, controller: AdaController, pipeline: str = "bgc"):
        self.controller, self.pipeline = controller, pipeline

    def __call__(self, x: torch.Tensor, rng) -> torch.Tensor:
        from ganforge.augment.ada import ada_augment

        return ada_augment(x, self.controller.p, rng, self.pipeline)


def build_ada(ada_spec, extras: dict, world: int = 1) -> tuple[AdaAugment, Callable]:
    """(augment callable, real-output observer) for ``augment.ada``; the controller joins
    ``extras`` (GanModules.extras) as "ada", so p travels in the checkpoint."""
    controller = AdaController(ada_spec.target, ada_spec.interval, ada_spec.kimg, ada_spec.p, world)
    extras["ada"] = controller
    return AdaAugment(controller, ada_spec.pipeline), controller.observe
