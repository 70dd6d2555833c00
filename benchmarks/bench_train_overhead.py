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
Prints the step's parts too, and (without --no-loader) the loader's headroom. The loops themselves
are in train_overhead_loops.py; this file runs them, in process and in Ray, and prints the tables.
The machine's load average is printed with each block: on a shared machine, say it with the figures.

    nice -n 15 .venv/bin/python benchmarks/bench_train_overhead.py [--steps 120] [--warmup 30] [--no-loader]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))  # benchmarks/ is not a package
import train_overhead_loops  # noqa: E402
from train_overhead_loops import (  # noqa: E402
    ganforge_stepper, in_memory_images, interleaved, paired_ratio, plain_stepper, step_breakdown, threads_of)

from ganforge.config import load_spec  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "jobs" / "quickstart.yaml"


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

    import ray.cloudpickle

    # The worker cannot import benchmarks/ (not on its path): ship the loops' code with the function.
    ray.cloudpickle.register_pickle_by_value(train_overhead_loops)
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

    # MLflow puts a sqlite store's artifacts under ./mlruns: keep them in tmp, not where the bench ran.
    here = os.getcwd()
    os.chdir(tmp)
    try:
        return _in_ray(spec, args, tmp, ray_session)
    finally:
        os.chdir(here)


def _in_ray(spec, args, tmp: str, ray_session) -> tuple[dict, float, dict, dict]:
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
