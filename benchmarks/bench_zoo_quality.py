"""Benchmark: does each zoo model learn? FID/KID of a short real training against its untrained generator.

For each spec in jobs/ (the zoo's CPU configs): the untrained generator (built exactly as the run
builds it: same seed, so it is the run's step-0 generator) is evaluated, then the spec trains for
--steps steps through ``run_training`` (the same Ray Train loop as ``ganforge train``, one local
Ray instance for all specs) with ``eval.every = steps``, and the run's final metrics are read back
from MLflow. Sample grids are logged to each run (``samples/``). Printed: a table of FID/KID
before and after, their ratio, wall time and the MLflow run id; exit status 1 if a model's FID
did not fall.

The feature extractor is the spec's ``eval.extractor`` (``auto``: docs/evaluation.md lists each data
set's default); --extractor overrides it for every spec (e.g. ``domain:digits``, cheap on 2 cores).

    .venv/bin/python benchmarks/bench_zoo_quality.py                       # all zoo specs, 300 steps
    .venv/bin/python benchmarks/bench_zoo_quality.py --jobs sngan biggan --steps 600
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parent.parent
ZOO = ["sngan", "ralsgan", "biggan", "stylegan-lite", "infogan", "realnessgan", "fastgan", "dcgan-mbd"]
METRICS = ["fid", "kid"]


def short_spec(job: str, steps: int, n: int, extractor: str | None, storage: str, uri: str):
    """The job's spec, shortened to ``steps`` with one evaluation at the end and a grid every half."""
    from ganforge.config import load_spec

    spec = load_spec(ROOT / "jobs" / f"{job}.yaml")
    spec.train.steps = steps
    spec.train.log_every = max(1, steps // 10)
    spec.train.sample_every = max(1, steps // 2)
    spec.train.checkpoint_every = steps
    # EMA at 0.999 averages over ~1000 steps: after a few hundred it is still mostly the untrained
    # generator. Copy G until two thirds in, then average (ema_start).
    spec.train.ema_start = 2 * steps // 3
    spec.eval.every, spec.eval.metrics, spec.eval.n = steps, METRICS, n
    spec.eval.options = {"kid_subset_size": min(n, 1000) // 2, "kid_subsets": 20}
    if extractor:
        spec.eval.extractor = extractor
    spec.scaling.storage_path = storage
    spec.tracking.tracking_uri = uri
    spec.tracking.experiment = "zoo-quality"
    spec.tracking.registered_model = None
    return spec


def untrained_metrics(spec) -> dict[str, float]:
    """Metrics of the generator the run starts from (same seed, same construction)."""
    from ganforge.data import build_dataset
    from ganforge.metrics import Evaluator
    from ganforge.train.setup import build_modules, sampling_generator

    dataset = build_dataset(spec.data)
    modules = build_modules(spec, dataset.img_shape, dataset.num_classes)
    evaluator = Evaluator.from_spec(spec, options=spec.eval.options)
    return plain_keys(evaluator(sampling_generator(modules)))


def trained_metrics(uri: str, run_id: str) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    return plain_keys(MlflowClient(uri).get_run(run_id).data.metrics)


def plain_keys(metrics: dict[str, float]) -> dict[str, float]:
    """Metric keys without their extractor tag (``domain-digits.fid`` -> ``fid``): the table's
    extractor column says which network computed them."""
    from ganforge.metrics.names import base_key

    return {base_key(key): value for key, value in metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", nargs="+", default=ZOO, help="spec names in jobs/")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--n", type=int, default=1000, help="samples per evaluation")
    parser.add_argument("--extractor", default=None, help="override every spec's eval.extractor")
    parser.add_argument("--tracking-uri", default=None, help="default: a sqlite store in a temp dir")
    args = parser.parse_args()

    import ray

    from ganforge.raycluster import connect
    from ganforge.train.driver import run_training

    root = Path(tempfile.mkdtemp(prefix="zoo-quality-"))
    uri = args.tracking_uri or f"sqlite:///{root / 'mlflow.db'}"
    os.environ.setdefault("GANFORGE_CACHE_DIR", str(root / "cache"))
    connect(None, num_cpus=2, extra_env={"GANFORGE_CACHE_DIR": os.environ["GANFORGE_CACHE_DIR"]})
    rows = []
    try:
        for job in args.jobs:
            spec = short_spec(job, args.steps, args.n, args.extractor, str(root / "ray"), uri)
            before = untrained_metrics(spec)
            start = time.perf_counter()
            outcome = run_training(spec)
            after = trained_metrics(uri, outcome.run_id)
            rows.append((job, spec.data.name, spec.eval.extractor, before, after, time.perf_counter() - start,
                         outcome.run_id))
            print(f"{job}: fid {before['fid']:.1f} -> {after.get('fid', float('nan')):.1f}", flush=True)
    finally:
        ray.shutdown()
    report(rows, args, uri)
    if any(not after.get("fid", float("inf")) < before["fid"] for _, _, _, before, after, _, _ in rows):
        sys.exit(1)


def report(rows, args, uri: str) -> None:
    print(f"\n{args.steps} training steps per model, {args.n} samples per evaluation; MLflow: {uri}")
    header = f"{'model':<15}{'data':<11}{'extractor':<15}{'FID untrained':>14}{'FID trained':>12}{'ratio':>7}" \
             f"{'KID untrained':>14}{'KID trained':>12}{'train s':>8}  run"
    print(header)
    for job, data, extractor, before, after, seconds, run_id in rows:
        fid = after.get("fid", float("nan"))
        kid = after.get("kid_mean", float("nan"))
        print(f"{job:<15}{data:<11}{extractor:<15}{before['fid']:>14.1f}{fid:>12.1f}{fid / before['fid']:>7.2f}"
              f"{before['kid_mean']:>14.4f}{kid:>12.4f}{seconds:>8.0f}  {run_id}")


if __name__ == "__main__":
    main()
