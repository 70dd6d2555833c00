"""Benchmark: the model zoo at its jobs/ (CPU) configs — parameters, training images/s, peak memory.

For each spec: G and D parameter counts; training images per second of the real training step
(``build_modules``/``build_step``, n_critic D updates + one G update, loss and regularizers and
DiffAugment as the spec sets them) on random batches of the spec's shape, so the input pipeline
is left out (bench_input_pipeline.py measures it): the median over --repeats timings of --steps
steps after --warmup steps. Peak memory: each model runs in its own subprocess, and the figure is
the growth of the process's peak RSS (ru_maxrss) from just before the models are built.

    .venv/bin/python benchmarks/bench_models.py
    .venv/bin/python benchmarks/bench_models.py --jobs jobs/sngan.yaml --steps 5 --threads 2
    .venv/bin/python benchmarks/bench_models.py --device cuda --set train.batch_size=256   # on a GPU
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

JOBS = ["sngan", "ralsgan", "biggan", "stylegan-lite", "infogan", "realnessgan", "fastgan", "dcgan-mbd"]
ROOT = Path(__file__).resolve().parent.parent


def count(module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def measure(job: str, steps: int, warmup: int, repeats: int, device: str, overrides: list[str]) -> dict:
    """Figures for one spec, measured in this process."""
    import torch

    from ganforge.config import load_spec
    from ganforge.data import build_dataset
    from ganforge.train.setup import build_modules, build_step

    spec = load_spec(job, overrides)
    dataset = build_dataset(spec.data)
    shape, classes = dataset.img_shape, dataset.num_classes
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    modules = build_modules(spec, shape, classes, device=device)
    step = build_step(spec, modules, device=device)
    batch = spec.per_worker_batch()
    gen = torch.Generator().manual_seed(0)
    real = [(torch.rand(batch, *shape, generator=gen).to(device) * 2 - 1,
             torch.randint(0, max(classes, 1), (batch,), generator=gen).to(device))
            for _ in range(spec.loss.n_critic)]
    for i in range(warmup):
        step(real, i)
    rates = []
    for r in range(repeats):
        sync(device)
        start = time.perf_counter()
        for i in range(steps):
            step(real, warmup + r * steps + i)
        sync(device)
        rates.append(steps * batch * spec.loss.n_critic / (time.perf_counter() - start))
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    if device.startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    return {"job": Path(job).stem, "model": spec.model.name, "loss": spec.loss.name,
            "res": shape[1], "batch": batch, "n_critic": spec.loss.n_critic,
            "params_g": count(modules.G), "params_d": count(modules.D),
            "images_per_s": statistics.median(rates), "peak_mb": peak_mb}


def sync(device: str) -> None:
    """Wait for queued GPU work (no-op on CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run_child(job: str, args) -> dict:
    """``measure`` in a fresh subprocess (its own peak RSS)."""
    cmd = [sys.executable, __file__, "--child", job, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--repeats", str(args.repeats), "--device", args.device, "--threads", str(args.threads)]
    for item in args.set or []:
        cmd += ["--set", item]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"job": Path(job).stem, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(rows: list[dict]) -> None:
    """One row per model."""
    head = f"{'job':<16}{'model':<15}{'loss':<15}{'px':>4}{'batch':>6}{'G params':>11}{'D params':>11}{'img/s':>9}{'peak MB':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['job']:<16}error: {r['error']}")
            continue
        print(f"{r['job']:<16}{r['model']:<15}{r['loss']:<15}{r['res']:>4}{r['batch']:>6}"
              f"{r['params_g']:>11,}{r['params_d']:>11,}{r['images_per_s']:>9.1f}{r['peak_mb']:>9.0f}")
    print("img/s: real images through D per second (batch x n_critic per step), median; "
          "peak MB: growth of peak RSS (CPU) or peak CUDA allocation (GPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="*", default=[str(ROOT / "jobs" / f"{j}.yaml") for j in JOBS])
    parser.add_argument("--steps", type=int, default=5, help="steps per timing")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="timings (the median is reported)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--set", action="append", help="spec override for every job, e.g. train.batch_size=32")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(measure(args.child, args.steps, args.warmup, args.repeats, args.device, args.set or [])))
        return
    rows = []
    for job in args.jobs:
        rows.append(run_child(job, args))
        print(f"measured {rows[-1]['job']}", file=sys.stderr, flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
