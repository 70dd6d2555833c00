"""The loops bench_train_overhead.py times, in one process: the PyTorch DCGAN example's plain loop,
ganforge's step written as a plain loop ("same-math", held bit for bit to GanStep by
tests/unit/test_train_overhead.py), ganforge's GanStep on its BatchStream, the interleaved timer
that runs them round by round, and the per-part breakdown of a ganforge step."""
from __future__ import annotations

import copy
import statistics
import time

import torch
import torch.nn.functional as F

from ganforge.data import build_dataset
from ganforge.models import build_models


def threads_of(spec) -> int:
    """The thread count train/loop.py gives the worker: train.torch_threads, else its reserved CPUs."""
    return spec.train.torch_threads or max(1, int(spec.scaling.cpus_per_worker))


def plain_update(G, D, G_ema, opt_g, opt_d, decay: float):
    """One plain-PyTorch GAN update over (real, z_d, z_g): the textbook one when ``z_g`` is None
    (D's fake batch also serves G's update), else ganforge's computation: D's fake drawn under
    no_grad from ``z_d``, G's from ``z_g`` with D frozen, then the EMA (weights and buffers)."""
    def update(real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor | None) -> None:
        with torch.set_grad_enabled(z_g is None):
            fake = G(z_d)
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        if z_g is not None:
            D.requires_grad_(False)
            fake = G(z_g)
        g_loss = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if z_g is not None:
            D.requires_grad_(True)
            torch._foreach_lerp_(list(G_ema.parameters()), list(G.parameters()), 1 - decay)
            torch._foreach_copy_(list(G_ema.buffers()), list(G.buffers()))
    return update


def plain_stepper(spec, images: torch.Tensor, same_math: bool):
    """One step of a plain loop on batches and latents drawn from torch's global RNG."""
    torch.manual_seed(0)
    G, D = build_models(spec.model, tuple(images.shape[1:]), 0)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=spec.optim.g.lr, betas=tuple(spec.optim.g.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=spec.optim.d.lr, betas=tuple(spec.optim.d.betas))
    update, batch = plain_update(G, D, G_ema, opt_g, opt_d, spec.train.ema), spec.train.batch_size

    def step() -> None:
        real = images[torch.randint(0, len(images), (batch,))]
        z_d = torch.randn(batch, G.z_dim)
        update(real, z_d, torch.randn(batch, G.z_dim) if same_math else None)
    return step


def ganforge_stepper(spec):
    """One step of ganforge's GanStep on its BatchStream (what a worker runs, without Ray)."""
    from ganforge.augment import build_pipeline
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream

    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    task = task_of(spec)
    step = task.build_step(spec, task.build_modules(spec, task.meta(dataset)))
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed)
    counter = iter(range(10**9))
    return lambda: step([stream.next()], next(counter)), step, stream


def in_memory_images(spec) -> torch.Tensor:
    """The spec's data set as one tensor (the plain loops index it: no loader)."""
    dataset = build_dataset(spec.data)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def interleaved(steppers: dict, repeats: int, window: int, warmup: int) -> dict[str, list[float]]:
    """ms/step of each stepper per round; each round runs every stepper for ``window`` steps."""
    for step in steppers.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, step in steppers.items():
            start = time.perf_counter()
            for _ in range(window):
                step()
            times[name].append(1000 * (time.perf_counter() - start) / window)
    return times


def paired_ratio(fast: list[float], slow: list[float]) -> float:
    """Median over rounds of fast/slow time per step (= slow's speed relative to fast's)."""
    return statistics.median(a / b for a, b in zip(fast, slow))


def step_breakdown(step, stream, steps: int, warmup: int) -> dict[str, float]:
    """ms per step of a ganforge step's parts, timed around the real objects' methods."""
    from ganforge.train import step as step_module

    totals: dict[str, float] = {}

    def timed(owner, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                totals[label] = totals.get(label, 0.0) + time.perf_counter() - start
        setattr(owner, name, wrapper)

    labels = {"batch": (stream, "next"), "D update": (step, "d_update"), "G update": (step, "g_update"),
              "  in the updates: optimizer steps + loss reads": (step_module, "apply_update"),
              "  in the updates: latents (seeded draws)": (step, "latents"), "EMA": (step_module, "update_ema")}
    for label, (owner, name) in labels.items():
        timed(owner, name, label)
    for t in range(warmup):
        step([stream.next()], 10**6 + t)
    totals.clear()
    start = time.perf_counter()
    for t in range(steps):
        step([stream.next()], 2 * 10**6 + t)
    totals["total"] = time.perf_counter() - start
    totals["rest (schedules, bookkeeping)"] = totals["total"] - sum(totals.get(k, 0.0) for k in
                                                                     ("batch", "D update", "G update", "EMA"))
    return {label: 1000 * totals.get(label, 0.0) / steps for label in [*labels, "rest (schedules, bookkeeping)", "total"]}
