"""Benchmark: the unpaired task's measured results (issue 13) at jobs/cyclegan.yaml's CPU config.

CycleGAN on the shipped digits pair (``digits-sources``: MNIST-style digits -> scikit-learn's 8x8
digits, 32 px), trained in this process with the worker loop's own pieces (the spec's data set
with its seed, ``task.build_modules`` / ``build_step``, ``BatchStream``): no Ray, so the whole
wall-time budget goes to steps. Every --eval-every steps it scores the generator on the held-out
domains with the task's evaluator: FID(G_AB(A), B) beside FID(A, B) (the "did nothing" baseline)
and FID(G_BA(B), A) beside FID(B, A), on the digits classifier's features (the data set's default
extractor; not Inception numbers, comparable only within this table), and the cycle
reconstruction L1 both ways. Also the training images/s per interval (steps only, evaluation
excluded) and the process's peak RSS (VmHWM). At the end the A -> B -> A / B -> A -> B sample grid
is logged to a temporary MLflow store (sqlite) as a training run logs it, and saved as a PNG.

Target: FID at least 30% below the baseline both ways, and the cycle error falling. Exit status 1
if missed. Stops early (with what it measured) after --max-minutes of wall time.

    nice -n 19 .venv/bin/python benchmarks/bench_unpaired.py            # 2000 steps, eval every 250
    nice -n 19 .venv/bin/python benchmarks/bench_unpaired.py --steps 200 --eval-every 100 --max-minutes 2

Measured 2026-12-02 on 2 shared cores (load average 10-14), `--steps 600 --eval-every 100
--max-minutes 11`, 2 threads: stopped at step 188 of 600 (so the schedule never decayed) after
12.6 min wall. Held-out A 500 / B 179 images, domain:digits features:

    step    FID a2b (FID(A, B))   FID b2a (FID(B, A))   cycle L1 a / b
       0    93.61 (58.27)         92.34 (58.27)         0.7609 / 0.6430
     100    11.46 (58.27)          6.52 (58.27)         0.1461 / 0.1735
     188     9.80 (58.27)          2.46 (58.27)         0.1057 / 0.1319

FID 83% (a2b) and 96% (b2a) below the baseline: the 30% target is met; the cycle error falls.
Training 4.5 images/s (steps 0-100) and 1.4 (100-188) with 2 threads: under that load two OpenMP
threads wait on each other (a tiny CycleGAN's backward took 10.5 s with 2 threads, 0.36 s with 1);
`--threads 1` gave 10.7 images/s (a 1-minute run, 41 steps). Peak RSS 1,013 MB. Not measured:
the full 600 or 2000 steps, or a quiet machine.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.30  # FID at least 30% below the baseline


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(args):
    """(spec, task, dataset, modules, step, stream, evaluator) as train/loop.py builds them."""
    import torch

    from ganforge.augment import build_pipeline
    from ganforge.config import load_spec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream

    torch.set_num_threads(args.threads)
    spec = load_spec(ROOT / "jobs" / "cyclegan.yaml", [f"train.steps={args.steps}", f"eval.n={args.n}"])
    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    dataset.seed = spec.train.seed
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(dataset))
    step = task.build_step(spec, modules)
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed)
    return spec, task, dataset, modules, step, stream, task.build_evaluator(spec, "cpu")


def row(step: int, values: dict, rate: float) -> dict:
    """One table row: FIDs (both ways, with baselines), cycle L1, images/s, peak RSS."""
    fid = {k.rpartition(".")[2] if not k.startswith("baseline.") else "baseline." + k.rpartition(".")[2]: v
           for k, v in values.items() if "fid" in k}
    return {"step": step, **fid, "cycle_l1_a": values["cycle_l1_a"], "cycle_l1_b": values["cycle_l1_b"],
            "images_per_s": rate, "peak_mb": peak_rss_mb()}


def print_row(r: dict) -> None:
    print(f"step {r['step']:5d}  FID a2b {r['fid_a2b']:7.2f} (baseline {r['baseline.fid_a2b']:7.2f})  "
          f"b2a {r['fid_b2a']:7.2f} (baseline {r['baseline.fid_b2a']:7.2f})  cycle L1 a {r['cycle_l1_a']:.4f} "
          f"b {r['cycle_l1_b']:.4f}  {r['images_per_s']:6.1f} img/s  peak {r['peak_mb']:.0f} MB", flush=True)


def log_grid(task, modules, inputs, step: int, out: Path) -> str:
    """The final grid into a temporary MLflow run (as Rank0Reporter logs it) and a PNG file."""
    import mlflow
    from mlflow.tracking import MlflowClient
    from torchvision.utils import save_image

    from ganforge import tracking

    images, per_row = task.sample_grid(modules.G.eval(), inputs)
    save_image(images * 0.5 + 0.5, out, nrow=per_row)
    uri = f"sqlite:///{out.parent / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("bench-unpaired", artifact_location=str(out.parent / "mlruns"))
    run = client.create_run(experiment)
    path = tracking.log_image_grid(client, run.info.run_id, images, step, nrow=per_row)
    mlflow.set_tracking_uri(uri)
    return f"{uri} run {run.info.run_id}: {path}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--n", type=int, default=500, help="held-out images per domain evaluated (B has 179)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=11.0)
    args = parser.parse_args()
    started = time.perf_counter()
    spec, task, dataset, modules, step_fn, stream, evaluate = build(args)
    print(f"{dataset}; G {sum(p.numel() for p in modules.G.parameters()):,} params, "
          f"D {sum(p.numel() for p in modules.D.parameters()):,}; batch {spec.train.batch_size}", flush=True)
    rows = [row(0, evaluate(modules.G), float("nan"))]
    print_row(rows[-1])
    stream.seek(0)
    train_time, done = 0.0, 0
    for t in range(args.steps):
        tick = time.perf_counter()
        step_fn([stream.next()], t)
        train_time += time.perf_counter() - tick
        done = t + 1
        if done % args.eval_every == 0 or done == args.steps or time.perf_counter() - started > args.max_minutes * 60:
            rate = spec.train.batch_size * (done - rows[-1]["step"]) / max(train_time, 1e-9)
            rows.append(row(done, evaluate(modules.G), rate))
            print_row(rows[-1])
            train_time = 0.0
            if time.perf_counter() - started > args.max_minutes * 60:
                print(f"stopped at step {done} of {args.steps}: --max-minutes {args.max_minutes} reached")
                break
    with tempfile.TemporaryDirectory() as directory:
        where = log_grid(task, modules, task.grid_inputs(spec, dataset, "cpu"), done, Path(directory) / "grid.png")
        print(f"sample grid (A -> B -> A rows, then B -> A -> B) logged: {where}")
    report(rows, time.perf_counter() - started)


def report(rows: list[dict], wall: float) -> None:
    """The targets, met or not; exit status 1 if one is missed."""
    first, last = rows[0], rows[-1]
    checks = []
    for way in ("a2b", "b2a"):
        drop = 1 - last[f"fid_{way}"] / last[f"baseline.fid_{way}"]
        checks.append((f"FID {way} {last[f'fid_{way}']:.2f} vs baseline {last[f'baseline.fid_{way}']:.2f}: "
                       f"{drop:.0%} below (target >= {TARGET:.0%})", drop >= TARGET))
    cycle = [(r["cycle_l1_a"] + r["cycle_l1_b"]) / 2 for r in rows]
    checks.append((f"cycle L1 {cycle[0]:.4f} -> {cycle[-1]:.4f} over steps {first['step']}..{last['step']}",
                   cycle[-1] < cycle[1 if len(cycle) > 2 else 0]))
    rates = [r["images_per_s"] for r in rows[1:]]
    print(f"wall {wall / 60:.1f} min; training images/s median {sorted(rates)[len(rates) // 2]:.1f}; "
          f"peak RSS {max(r['peak_mb'] for r in rows):.0f} MB")
    for text, ok in checks:
        print(("MET     " if ok else "MISSED  ") + text)
    raise SystemExit(0 if all(ok for _, ok in checks) else 1)


if __name__ == "__main__":
    main()
