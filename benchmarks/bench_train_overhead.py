"""Platform overhead and input-pipeline headroom of `ganforge train` (1 worker).

Measures, in one run:
  1. images/s of a plain PyTorch loop: the same DCGAN, batch, data (digits 32 px, tensors in
     memory), Adam, non-saturating loss and thread count, no Ray, no MLflow;
  2. images/s of `ganforge train` on the same spec (Ray Train worker, MLflow logging, EMA,
     checkpoints), read from the run's `images_per_s` metric after warm-up (wall time between
     log boundaries, the logging itself included), and where the worker loop's time per step
     goes: the loop's own `time_<phase>_ms` metrics (data, step, rank0 side effects, report);
  3. in this process, the step's parts: batch, D update, G update, the rest (schedules, EMA),
     and inside the updates the optimizer steps with their loss reads, beside the plain loop's
     time per step;
  4. images/s the loader + augmentation delivers (benchmarks/bench_input_pipeline.py).
Prints a table of medians and the ratios (targets: overhead ratio >= 0.95, headroom >= 2).
The machine's load average is printed first and last: on a shared machine, say it with the figures.

    .venv/bin/python benchmarks/bench_train_overhead.py [--steps 300] [--warmup 60] [--no-loader]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from bench_input_pipeline import loader_images_per_second  # noqa: E402

from ganforge.config import load_spec  # noqa: E402
from ganforge.data import build_dataset  # noqa: E402
from ganforge.models import build_models  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "jobs" / "quickstart.yaml"


def plain_loop_images_per_second(spec, steps: int, warmup: int, window: int = 20) -> float:
    """Median images/s over windows of a textbook GAN loop with the spec's model and batch."""
    torch.set_num_threads(spec.train.torch_threads or 1)
    dataset = build_dataset(spec.data)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    torch.manual_seed(0)
    G, D = build_models(spec.model, dataset.img_shape, 0)
    opt_g = torch.optim.Adam(G.parameters(), lr=spec.optim.g.lr, betas=tuple(spec.optim.g.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=spec.optim.d.lr, betas=tuple(spec.optim.d.betas))
    batch = spec.train.batch_size
    rates, start = [], time.perf_counter()
    for step in range(warmup + steps):
        real = images[torch.randint(0, len(images), (batch,))]
        fake = G(torch.randn(batch, G.z_dim))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step >= warmup and (step - warmup + 1) % window == 0:
            rates.append(window * batch / (time.perf_counter() - start))
        if step == warmup - 1 or (step >= warmup and (step - warmup + 1) % window == 0):
            start = time.perf_counter()
    return statistics.median(rates)


def ganforge_images_per_second(spec, steps: int, warmup: int) -> tuple[float, dict[str, float]]:
    """Median of the run's logged images_per_s after warm-up (logged every 20 steps), and the
    median ms per step of each loop phase (time_*_ms)."""
    import mlflow

    from ganforge.train.driver import run_training

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        spec = spec.model_copy(deep=True)
        spec.train.steps = warmup + steps
        spec.train.log_every = 20
        spec.train.sample_every = 0
        spec.train.checkpoint_every = warmup + steps
        spec.tracking.tracking_uri = uri
        spec.tracking.registered_model = None
        spec.scaling.storage_path = f"{tmp}/ray"
        outcome = run_training(spec)
        client = mlflow.MlflowClient(uri)
        rate = statistics.median(m.value for m in client.get_metric_history(outcome.run_id, "images_per_s")
                                 if m.step > warmup)
        keys = [k for k in client.get_run(outcome.run_id).data.metrics if k.startswith("time_")]
        phases = {k: statistics.median(m.value for m in client.get_metric_history(outcome.run_id, k) if m.step > warmup)
                  for k in keys}
    return rate, phases


def step_breakdown(spec, steps: int, warmup: int) -> dict[str, float]:
    """ms per step of a ganforge step's parts, timed in this process around the real objects."""
    from ganforge.augment import build_pipeline
    from ganforge.tasks import task_of
    from ganforge.train import step as step_module
    from ganforge.train.batches import BatchStream

    torch.set_num_threads(spec.train.torch_threads or 1)
    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(dataset))
    step = task.build_step(spec, modules)
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed)
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

    timed(stream, "next", "batch (loader)")
    timed(step, "d_update", "D update")
    timed(step, "g_update", "G update")
    timed(step_module, "apply_update", "  in the updates: optimizer steps + loss reads")
    timed(step_module, "update_ema", "EMA")
    timed(step, "latents", "  in the updates: latents (seeded draws)")
    for t in range(warmup):
        step([stream.next()], t)
    totals.clear()
    start = time.perf_counter()
    for t in range(warmup, warmup + steps):
        step([stream.next()], t)
    totals["total"] = time.perf_counter() - start
    top = ("batch (loader)", "D update", "G update", "EMA")
    totals["rest (schedules, step bookkeeping)"] = totals["total"] - sum(totals.get(k, 0.0) for k in top)
    order = [*top[:3], "  in the updates: optimizer steps + loss reads", "  in the updates: latents (seeded draws)",
             "EMA", "rest (schedules, step bookkeeping)", "total"]
    return {label: 1000 * totals.get(label, 0.0) / steps for label in order}


def load() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above ~0.5, others share them)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--no-loader", action="store_true", help="skip the input-pipeline headroom rows")
    parser.add_argument("--threads", type=int, help="override train.torch_threads (both loops; 1 on a busy machine)")
    args = parser.parse_args()
    spec = load_spec(SPEC)
    if args.threads:
        spec.train.torch_threads = args.threads
    print(f"load average at start: {load()}")
    plain = plain_loop_images_per_second(spec, args.steps, args.warmup)
    platform, phases = ganforge_images_per_second(spec, args.steps, args.warmup)
    parts = step_breakdown(spec, min(args.steps, 100), 20)
    plain_after = plain_loop_images_per_second(spec, args.steps, args.warmup)  # drift check
    batch = spec.train.batch_size
    print(f"\nquickstart spec: DCGAN ngf/ndf 32, batch {batch}, digits 32 px, "
          f"{spec.train.torch_threads} threads; medians after {args.warmup} warm-up steps\n")
    print(f"{'measurement':<44}{'images/s':>10}{'ms/step':>10}")
    for name, rate in (("plain PyTorch loop", plain), ("plain PyTorch loop (again, after)", plain_after),
                       ("ganforge train (1 Ray Train worker)", platform)):
        print(f"{name:<44}{rate:>10.0f}{1000 * batch / rate:>10.2f}")
    print(f"\n{'worker loop phases (ganforge train, rank 0)':<44}{'ms/step':>10}")
    for key, value in sorted(phases.items()):
        print(f"{key:<44}{value:>10.3f}")
    print(f"\n{'step parts (in process, no Ray)':<44}{'ms/step':>10}")
    for key, value in parts.items():
        print(f"{key:<44}{value:>10.3f}")
    print(f"\n{'ratio':<44}{'value':>10}{'target':>10}")
    print(f"{'platform overhead: ganforge / plain':<44}{platform / plain:>10.2f}{'>= 0.95':>10}")
    print(f"{'  against the mean of both plain runs':<44}{2 * platform / (plain + plain_after):>10.2f}{'>= 0.95':>10}")
    if not args.no_loader:
        loader = loader_images_per_second(spec)
        heavy_spec = spec.model_copy(deep=True)
        heavy_spec.augment.preset = "blur+flip+affine"
        heavy = loader_images_per_second(heavy_spec)
        print(f"{'input headroom: loader / ganforge step':<44}{loader / platform:>10.2f}{'>= 2':>10}")
        print(f"{'headroom with blur+flip+affine':<44}{heavy / platform:>10.2f}{'>= 2':>10}")
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
