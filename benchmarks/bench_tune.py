"""ASHA against a full search without early stopping, on the same grid and step budget.

Both searches run the same grid of configurations (so they see the same trials) through the real
Train-in-Tune path on a local Ray instance; the only difference is the scheduler. Printed:
trial-steps used (compute) and best FID reached, and ASHA/full ratios. Target from issue 4:
ASHA within 5% of the full search's best metric at <= 40% of its compute.

Measured 2026-11-23 on the 2-core box (defaults: 8 lrs x 180 steps, 9 Tune iterations, ASHA
grace 1 / eta 3; a zoo benchmark ran beside it, so wall time is not comparable): full 8 trials /
1440 trial-steps / best FID 94.414; ASHA 8 trials / 320 trial-steps / best FID 97.740: compute
0.22, best FID 1.035 (target: <= 0.40 and within 5%).

    python benchmarks/bench_tune.py                  # ~15 min on 2 cores
    python benchmarks/bench_tune.py --lrs 1e-4,1e-3,1e-2 --steps 60 --reduction-factor 2
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

METRIC = "domain-digits.fid"  # the digits classifier's FID (eval.extractor below); plain fid is Inception's

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def bench_spec(root: str, lrs: list[float], steps: int, every: int, scheduler: str, n: int,
               reduction_factor: int = 3, grace_period: int = 1):
    from ganforge.config import spec_from_dict

    grid = "grid(" + ", ".join(repr(lr) for lr in lrs) + ")"
    return spec_from_dict({
        "name": f"bench-tune-{scheduler}",
        "data": {"name": "digits", "resolution": 16, "limit": 512},
        "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 16, "ndf": 16}},
        "train": {"steps": steps, "batch_size": 32, "log_every": every, "sample_every": 0, "checkpoint_every": every,
                  "grid_size": 16, "torch_threads": 1},
        "eval": {"every": every, "metrics": ["fid"], "n": n, "extractor": "domain:digits", "batch_size": 100},
        "scaling": {"storage_path": os.path.join(root, "ray")},
        "tracking": {"experiment": "bench-tune", "tracking_uri": f"sqlite:///{root}/mlflow.db"},
        "search": {"space": {"optim.g.lr": grid},
                   "metric": METRIC, "mode": "min",
                   "scheduler": {"name": "asha", "grace_period": grace_period, "reduction_factor": reduction_factor}
                   if scheduler == "asha" else "none"},
    })


def measure(spec) -> dict:
    """Run one search; trial-steps = reported iterations x checkpoint_every, best fid over all reports."""
    from ganforge.tune.search import run_search

    start = time.perf_counter()
    outcome = run_search(spec)
    seconds = time.perf_counter() - start
    every = spec.train.checkpoint_every
    trial_steps, best_any, best_final = 0, math.inf, math.inf
    for result in outcome.results:
        frame = result.metrics_dataframe
        trial_steps += int(frame["training_iteration"].max()) * every
        values = [v for v in frame[METRIC] if math.isfinite(v)]
        best_any = min([best_any, *values])
        if int(frame["training_iteration"].max()) * every >= spec.train.steps and values:
            best_final = min(best_final, values[-1])
    return {"trials": len(outcome.results), "trial_steps": trial_steps, "best_fid": best_any,
            "best_final_fid": best_final, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lrs", default="3e-5,1e-4,2e-4,5e-4,1e-3,2e-3,5e-3,1e-2",
                        help="generator learning rates (the grid)")
    parser.add_argument("--steps", type=int, default=180)
    parser.add_argument("--every", type=int, default=20, help="checkpoint/eval interval (one Tune iteration)")
    parser.add_argument("--n", type=int, default=200, help="samples per FID evaluation")
    parser.add_argument("--reduction-factor", type=int, default=3, help="ASHA's eta: 1/eta of a rung is promoted")
    parser.add_argument("--grace-period", type=int, default=1, help="ASHA's first rung (Tune iterations)")
    args = parser.parse_args()
    import ray

    from ganforge.raycluster import connect

    lrs = [float(x) for x in args.lrs.split(",")]
    connect(None)  # a fresh local instance, as `ganforge tune` starts one
    rows = {}
    with tempfile.TemporaryDirectory() as root:
        for scheduler in ("none", "asha"):
            rows[scheduler] = measure(bench_spec(root, lrs, args.steps, args.every, scheduler, args.n,
                                                 args.reduction_factor, args.grace_period))
    ray.shutdown()
    full, asha = rows["none"], rows["asha"]
    print(f"\ngrid: g lr in {lrs}; {args.steps} steps/trial, one Tune iteration = {args.every} steps; "
          f"FID domain:digits n={args.n}; ASHA grace {args.grace_period}, reduction factor {args.reduction_factor}")
    print(f"{'search':<8} {'trials':>6} {'trial-steps':>11} {'best fid':>9} {'best final fid':>15} {'wall s':>7}")
    for name, row in (("full", full), ("asha", asha)):
        print(f"{name:<8} {row['trials']:>6} {row['trial_steps']:>11} {row['best_fid']:>9.3f} "
              f"{row['best_final_fid']:>15.3f} {row['seconds']:>7.0f}")
    print(f"ratio asha/full: compute {asha['trial_steps'] / full['trial_steps']:.2f}, "
          f"best fid {asha['best_fid'] / full['best_fid']:.3f}, best final fid "
          f"{asha['best_final_fid'] / full['best_final_fid']:.3f}, wall {asha['seconds'] / full['seconds']:.2f}")


if __name__ == "__main__":
    main()
