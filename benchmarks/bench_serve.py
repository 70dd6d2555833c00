"""Benchmark: the Serve endpoint with ``@serve.batch`` against a naive one-request-one-forward handler.

The same generator (a 32 px DCGAN, default width, untrained weights: speed does not depend on
training) is served twice by serving/app.py, once with ``batching: true`` and once with
``batching: false``, one at a time on a private local Ray instance bound to 127.0.0.1. Clients
POST /v1/generate (one PNG, a different seed per request) at concurrency 1 and 16; each cell is
requests/s and p50/p99 latency after a warm-up. Printed: the table and the ratios the serving issue
sets as targets (batched/naive throughput at concurrency 16 >= 4; batched p99 at 16 <= 2 x its p50
at 1). The client threads share the machine's cores with the server.

    .venv/bin/python benchmarks/bench_serve.py
    .venv/bin/python benchmarks/bench_serve.py --requests 400 --ngf 128 --resolution 64
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def save_generator(directory: Path, ngf: int, resolution: int) -> Path:
    """A DCGAN generator checkpoint as training writes one."""
    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    spec = ExperimentSpec(name="bench", data={"name": "digits"}, model={"name": "dcgan", "options": {"ngf": ngf}})
    generator, _ = build_models(spec.model, (3, resolution, resolution), 0)
    meta = {"img_shape": [3, resolution, resolution], "num_classes": 0}
    atomic_save(generator_state(generator, spec.to_dict(), meta, step=0), directory / GENERATOR_FILE)
    return directory


def measure(url: str, concurrency: int, n_requests: int, warmup: int = 16) -> dict:
    """requests/s, p50 and p99 latency (ms) of n_requests POSTs (GETs for /healthz) at the given concurrency."""
    sessions = {}

    def one(seed: int) -> float:
        session = sessions.setdefault(threading_id(), requests.Session())
        start = time.perf_counter()
        if url.endswith("/healthz"):
            response = session.get(url, timeout=120)
        else:
            response = session.post(url, json={"seed": seed, "n": 1, "format": "png"}, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        return time.perf_counter() - start

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(warmup)))
        start = time.perf_counter()
        latencies = sorted(pool.map(one, range(warmup, warmup + n_requests)))
        elapsed = time.perf_counter() - start
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return {"rps": n_requests / elapsed, "p50": 1000 * statistics.median(latencies), "p99": 1000 * p99}


def forward_only(checkpoint: Path, batch: int, threads: int, repeats: int = 20) -> float:
    """ms per image of the replica's own work (latents, one forward, PNG encoding) for batch jobs, in-process."""
    import torch

    from ganforge.sampling import load_generator
    from serving.app import forward_jobs

    torch.set_num_threads(threads)  # a replica with num_cpus=k gets OMP_NUM_THREADS=k from Ray
    models = {"g": load_generator(str(checkpoint)).generator}
    jobs = [{"model": "g", "n": 1, "seed": i, "truncation": None, "class_id": None, "format": "png"} for i in range(batch)]
    forward_jobs(models, jobs)
    start = time.perf_counter()
    for _ in range(repeats):
        forward_jobs(models, jobs)
    return 1000 * (time.perf_counter() - start) / (repeats * batch)


def threading_id() -> int:
    import threading

    return threading.get_ident()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per cell at concurrency 16")
    parser.add_argument("--requests-c1", type=int, default=80, help="measured requests per cell at concurrency 1")
    parser.add_argument("--ngf", type=int, default=64, help="DCGAN generator width")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-wait", type=float, default=0.01, help="batch_wait_timeout_s of the batched handler")
    parser.add_argument("--replica-cpus", type=int, default=2,
                        help="num_cpus of the generator replica (Ray gives its torch as many threads)")
    args = parser.parse_args()

    import ray

    from ganforge.raycluster import connect
    from ray import serve

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # serving/ sits beside platform/
    from serving.app import build_app

    checkpoint = save_generator(Path(tempfile.mkdtemp(prefix="bench-serve-")), args.ngf, args.resolution)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The replica's CPUs plus room for the ingress deployment (0.1 CPU).
    connect(None, num_cpus=args.replica_cpus + 1)
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    rows = {}
    try:
        for batching in (False, True):
            name = "batched" if batching else "naive"
            serve.run(build_app({"models": [str(checkpoint)], "batching": batching, "num_cpus": args.replica_cpus,
                                 "max_batch_size": args.max_batch_size, "batch_wait_timeout_s": args.batch_wait}), name=name, route_prefix="/")
            url = f"http://127.0.0.1:{port}/v1/generate"
            if batching:  # the HTTP path alone (proxy + ingress, no generator): the ceiling of both handlers
                rows["healthz", 16] = measure(f"http://127.0.0.1:{port}/healthz", 16, args.requests)
            for concurrency, n in ((1, args.requests_c1), (16, args.requests)):
                rows[name, concurrency] = measure(url, concurrency, n)
                print(f"{name:8s} c={concurrency:<3d} {rows[name, concurrency]}", flush=True)
            serve.delete(name)
    finally:
        serve.shutdown()
        ray.shutdown()
    per_image = {batch: forward_only(checkpoint, batch, args.replica_cpus) for batch in (1, args.max_batch_size)}
    report(rows, args, per_image)


def report(rows: dict, args, per_image: dict) -> None:
    """The table and the target ratios."""
    print(f"\nDCGAN ngf={args.ngf} {args.resolution}px, one PNG per request, max_batch_size={args.max_batch_size}, "
          f"batch wait {args.batch_wait * 1000:g} ms, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'handler':10s}{'conc':>6s}{'req/s':>10s}{'p50 ms':>10s}{'p99 ms':>10s}")
    for (name, concurrency), row in sorted(rows.items(), key=lambda item: item[0][0] == "healthz"):
        print(f"{name:10s}{concurrency:>6d}{row['rps']:>10.1f}{row['p50']:>10.1f}{row['p99']:>10.1f}")
    speedup = rows["batched", 16]["rps"] / rows["naive", 16]["rps"]
    tail = rows["batched", 16]["p99"] / rows["batched", 1]["p50"]
    print(f"\nthroughput batched/naive at concurrency 16: {speedup:.2f}x (target >= 4x)")
    print(f"batched p99 at 16 / batched p50 at 1: {tail:.2f}x (target <= 2x)")
    print(f"batched/naive at concurrency 1: {rows['batched', 1]['rps'] / rows['naive', 1]['rps']:.2f}x")
    one, many = per_image[1], per_image[args.max_batch_size]
    print(f"replica work per image (forward + PNG, {args.replica_cpus} threads): batch 1 {one:.2f} ms, batch {args.max_batch_size} "
          f"{many:.2f} ms ({one / many:.1f}x); the HTTP path alone (healthz row) caps both handlers")
    print(f"CPU-bound ceiling of batched/naive here: {cpu_bound_ceiling(rows, per_image, args):.2f}x (see cpu_bound_ceiling)")


def cpu_bound_ceiling(rows: dict, per_image: dict, args) -> float:
    """The throughput ratio batched/naive can reach when every core is busy, as on a CPU-only
    machine where clients, proxy, ingress and replica share the cores: a request costs its HTTP
    path (cores / healthz req/s, client included) plus its image (ms per image x torch threads)."""
    cores = os.cpu_count() or 1
    http_ms = 1000 * cores / rows["healthz", 16]["rps"]
    threads = min(args.replica_cpus, cores)
    naive_ms = http_ms + per_image[1] * threads
    batched_ms = http_ms + per_image[args.max_batch_size] * threads
    return naive_ms / batched_ms


if __name__ == "__main__":
    main()
