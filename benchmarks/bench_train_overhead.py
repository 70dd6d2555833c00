"""Platform overhead and input-pipeline headroom of `ganforge train` (1 worker, quickstart spec).

What it compares, like with like (same DCGAN, batch, data, Adam, loss, thread count):
  textbook    the PyTorch DCGAN example's loop: one fake batch serves D's and G's update, no EMA;
  same-math   ganforge's step written as a plain loop: D sees a fake drawn under no_grad, G's
              update draws fresh latents (every n_critic > 1 step needs that), EMA after it.
              The platform's overhead is ganforge's time against this one;
  ganforge    the GanStep and its BatchStream, in this process (no Ray, no MLflow);
then the same-math loop inside a Ray Train worker beside `ganforge train` itself (Ray Train
worker, MLflow, EMA, checkpoints; `images_per_s` read from the run after warm-up), the worker
loop's `time_<phase>_ms`, and the cores each process of this Ray instance used meanwhile
(CPU seconds per second of the run, start-up included).
In-process loops run interleaved: ``--repeats`` rounds of ``--window`` steps each, so load that
comes and goes hits all of them; ratios are medians of per-round ratios.
Prints the step's parts too, and (without --no-loader) the loader's headroom.
The machine's load average is printed with each block: on a shared machine, say it with the figures.

    nice -n 15 .venv/bin/python benchmarks/bench_train_overhead.py [--steps 120] [--warmup 30] [--no-loader]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch
import torch.nn.functional as F

from ganforge.config import load_spec
from ganforge.data import build_dataset
from ganforge.models import build_models

SPEC = Path(__file__).resolve().parents[1] / "jobs" / "quickstart.yaml"


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


def plain_in_worker(config: dict) -> None:
    """Ray Train worker: the same-math plain loop, threads set as train/loop.py sets them."""
    import ray.train

    from ganforge.config import ExperimentSpec

    spec = ExperimentSpec(**config["spec"])
    omp = os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(threads_of(spec))
    step = plain_stepper(spec, in_memory_images(spec), same_math=True)
    times = interleaved({"plain": step}, config["repeats"], config["window"], config["warmup"])["plain"]
    # Train keeps only metrics reported with a checkpoint: the figures go through a file (one node).
    Path(config["out"]).write_text(json.dumps({"ms": statistics.median(times), "threads": torch.get_num_threads(),
                                               "omp": str(omp)}))
    ray.train.report({})


def plain_in_ray_worker(spec, repeats: int, window: int, warmup: int, storage: str) -> dict:
    """Median ms/step of the same-math plain loop in a 1-worker TorchTrainer, and its thread facts."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    out = Path(storage) / f"plain-{uuid.uuid4().hex[:8]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(plain_in_worker, train_loop_config={"spec": spec.to_dict(), "repeats": repeats,
                                                                "window": window, "warmup": warmup, "out": str(out)},
                           scaling_config=ScalingConfig(num_workers=1, resources_per_worker={
                               "CPU": spec.scaling.cpus_per_worker}),
                           run_config=RunConfig(name=f"plain-{uuid.uuid4().hex[:8]}", storage_path=storage))
    trainer.fit()
    return json.loads(out.read_text())


def ganforge_train(spec, steps: int, warmup: int, tmp: str) -> tuple[float, dict[str, float]]:
    """`ganforge train` of ``spec``: median logged images_per_s after warm-up (logged every 20
    steps) and the median ms per step of each worker loop phase (time_*_ms)."""
    import mlflow

    from ganforge.train.driver import run_training

    spec = spec.model_copy(deep=True)
    spec.train.steps, spec.train.log_every, spec.train.sample_every = warmup + steps, 20, 0
    spec.train.checkpoint_every = warmup + steps
    spec.tracking.tracking_uri = f"sqlite:///{tmp}/mlflow.db"
    spec.tracking.registered_model = None
    spec.scaling.storage_path = f"{tmp}/ray"
    outcome = run_training(spec)
    client = mlflow.MlflowClient(spec.tracking.tracking_uri)

    def median(key: str) -> float:
        return statistics.median(m.value for m in client.get_metric_history(outcome.run_id, key) if m.step > warmup)
    keys = [k for k in client.get_run(outcome.run_id).data.metrics if k.startswith("time_")]
    return median("images_per_s"), {k: median(k) for k in keys}


def process_cpu_seconds() -> dict[str, float]:
    """CPU seconds (user + system) used so far by each descendant of this process (the Ray
    instance it started), summed by process title; this process itself as "driver"."""
    ticks = os.sysconf("SC_CLK_TCK")
    children, stats = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():  # self, thread-self, sys, ...
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        stats[pid] = (Path(title).name[:40] or "?", (int(fields[11]) + int(fields[12])) / ticks)
    totals, todo = {"driver": stats.get(os.getpid(), ("", 0.0))[1]}, list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        if pid in stats:
            title, seconds = stats[pid]
            totals[title] = totals.get(title, 0.0) + seconds
    return totals


def load() -> str:
    """The 1, 5 and 15 minute load averages (2 cores: above ~0.5, others share them)."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_rows(title: str, rows: dict[str, float], unit: str = "ms/step") -> None:
    """A two-column block."""
    print(f"\n{title:<48}{unit:>10}")
    for key, value in rows.items():
        print(f"{key:<48}{value:>10.2f}")


def in_process(spec, args) -> dict[str, list[float]]:
    """The interleaved in-process rows and the step's parts; returns the per-round times."""
    torch.set_num_threads(threads_of(spec))
    images = in_memory_images(spec)
    gf, step, stream = ganforge_stepper(spec)
    steppers = {"textbook plain loop": plain_stepper(spec, images, False),
                "same-math plain loop": plain_stepper(spec, images, True), "ganforge step (in process)": gf}
    times = interleaved(steppers, args.repeats, args.window, args.warmup)
    print_rows(f"in process, {args.repeats} rounds x {args.window} steps (load {load()})",
               {name: statistics.median(t) for name, t in times.items()})
    print_rows(f"step parts, in process (load {load()})", step_breakdown(step, stream, args.window * 2, 5))
    return times


def in_ray(spec, args, tmp: str) -> tuple[dict, float, dict, dict]:
    """The Ray rows: the plain loop in a worker, then `ganforge train`, in one Ray instance."""
    from ganforge.raycluster import ray_session

    with ray_session():
        plain = plain_in_ray_worker(spec, max(3, args.steps // args.window), args.window, args.warmup, f"{tmp}/ray")
        before, start = process_cpu_seconds(), time.perf_counter()
        rate, phases = ganforge_train(spec, args.steps, args.warmup, tmp)
        after, wall = process_cpu_seconds(), time.perf_counter() - start
    used = {title: (after[title] - before.get(title, 0.0)) / wall for title in after}
    return plain, rate, phases, {k: v for k, v in sorted(used.items(), key=lambda kv: -kv[1]) if v >= 0.005}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120, help="`ganforge train` steps after warm-up")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=9, help="interleaved in-process rounds")
    parser.add_argument("--window", type=int, default=10, help="steps per loop per round")
    parser.add_argument("--no-ray", action="store_true", help="only the in-process rows")
    parser.add_argument("--ray-only", action="store_true", help="only the Ray rows")
    parser.add_argument("--no-loader", action="store_true", help="skip the input-pipeline headroom rows")
    parser.add_argument("--threads", type=int, help="override train.torch_threads (both loops)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # each block as it is measured, also into a log file
    spec = load_spec(SPEC)
    spec.train.torch_threads = args.threads or spec.train.torch_threads
    batch = spec.train.batch_size
    print(f"quickstart: DCGAN ngf/ndf 32, batch {batch}, digits 32 px, {threads_of(spec)} torch threads")
    ratios, same, ours = {}, [], []
    if not args.ray_only:
        times = in_process(spec, args)
        same, ours = times["same-math plain loop"], times["ganforge step (in process)"]
        ratios = {"ganforge step / same-math plain (in process)": paired_ratio(same, ours),
                  "ganforge step / textbook plain (in process)": paired_ratio(times["textbook plain loop"], ours)}
    if not args.no_ray:
        with tempfile.TemporaryDirectory() as tmp:
            plain, rate, phases, cpu = in_ray(spec, args, tmp)
        train_ms = 1000 * batch / rate
        print_rows(f"Ray rows (load {load()})", {
            f"same-math plain loop in a Ray Train worker ({plain['threads']} threads, OMP {plain['omp']})": plain["ms"],
            "ganforge train (1 Ray Train worker)": train_ms})
        print_rows("worker loop phases (ganforge train, rank 0)", dict(sorted(phases.items())))
        print_rows("cores each process used during ganforge train", cpu, "CPU s/s")
        ratios["ganforge train / same-math plain in a worker"] = plain["ms"] / train_ms
        if same:
            ratios["ganforge train / same-math plain (in process)"] = statistics.median(same) / train_ms
    print_rows("ratios (target >= 0.95 against the same-math loop)", ratios, "value")
    if not (args.no_loader or args.ray_only):
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_input_pipeline import loader_images_per_second

        loader = loader_images_per_second(spec)
        heavy = spec.model_copy(deep=True)
        heavy.augment.preset = "blur+flip+affine"
        step_rate = 1000 * batch / statistics.median(ours)
        print_rows("input headroom (target >= 2)", {"loader / ganforge step": loader / step_rate,
                                                    "with blur+flip+affine": loader_images_per_second(heavy) / step_rate},
                   "value")
    print(f"\nload average at end: {load()}")


if __name__ == "__main__":
    main()
