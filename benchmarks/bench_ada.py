"""Benchmark: ADA against no augmentation and DiffAugment on the 100 bundled faces, at equal steps,
and what the monitors cost (issue 16).

Each configuration trains in-process with the worker loop's pieces (the spec's data set, the
task's modules and step, ``BatchStream``; evaluation and the monitors as rank 0 runs them through
``Watch``): a DCGAN at 32 px on ``lfw-faces`` (100 grey faces), batch 32, the same seed and steps
for all. FID (Inception features, n = 100 generated against the 100 faces: at this n it is biased
upwards and only comparable within this table) every ``--eval-every`` steps; printed per
configuration: the final FID, the best FID and the step it came at, ADA's final p, and the alarms
that fired. ``ada`` is the paper's controller (p can move 1 per 500k images: at these steps it
barely leaves 0); ``ada-fast`` moves p 25 times as fast (20k images), what a run this short needs.

Monitor cost: the time spent in the monitors' checks (``Watch.seconds``: r_t, D's held-out gap,
the fixed-seed sample batch through the extractor, the diversity / coverage / memorisation /
divergence checks) as a share of the run's wall time (steps + evaluation + monitors), target at
most 3 %, and as a share of step time alone.

    nice -n 19 .venv/bin/python benchmarks/bench_ada.py                 # 600 steps, eval every 150
    .venv/bin/python benchmarks/bench_ada.py --steps 2000 --eval-every 250 --configs none,ada-fast
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

CONFIGS = {
    "none": {},
    "diffaugment": {"augment": {"diffaugment": "color,translation,cutout"}},
    "ada": {"augment": {"ada": {"target": 0.6}}},
    "ada-fast": {"augment": {"ada": {"target": 0.6, "kimg": 20}}},
}


def base_document(steps: int, eval_every: int, n: int) -> dict:
    """The shared spec: DCGAN 32 px on the 100 faces, batch 32, FID every ``eval_every`` steps."""
    return {"name": "bench-ada", "data": {"name": "lfw-faces", "resolution": 32},
            "model": {"name": "dcgan", "z_dim": 64, "options": {"ngf": 32, "ndf": 32}},
            "train": {"steps": steps, "batch_size": 32, "ema": 0.99, "log_every": 25, "seed": 0},
            "eval": {"every": eval_every, "metrics": ["fid"], "n": n, "batch_size": 50, "extractor": "auto"}}


def run(name: str, document: dict) -> dict:
    """Train one configuration; returns its FID history, best, ADA's p, alarms and timings."""
    import torch

    from ganforge.augment import build_pipeline
    from ganforge.config import spec_from_dict
    from ganforge.data import build_dataset
    from ganforge.documents import deep_merge
    from ganforge.metrics import Evaluator
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream
    from ganforge.train.monitors.watch import Watch
    from ganforge.train.setup import sampling_generator

    spec = spec_from_dict(deep_merge(document, CONFIGS[name]))
    torch.set_num_threads(1)
    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    dataset.seed = spec.train.seed
    task = task_of(spec)
    meta = task.meta(dataset)
    modules = task.build_modules(spec, meta, 1)
    step_fn = task.build_step(spec, modules, 0, 1)
    evaluator = Evaluator.from_spec(spec)
    alarms: list[str] = []
    watch = Watch(spec, modules, meta, "cpu", evaluator=lambda: evaluator, printer=alarms.append)
    watch.watch_evaluator(evaluator)  # as Rank0Reporter does once its evaluator is built
    watch.attach(step_fn)
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed, 0, 1)
    stream.seek(0)
    fids, step_s, eval_s = [], 0.0, 0.0
    start = time.perf_counter()
    for step in range(spec.train.steps):
        t = time.perf_counter()
        step_fn([stream.next()], step)
        step_s += time.perf_counter() - t
        done = step + 1
        if done % spec.train.log_every == 0:
            watch.on_log(done)
        if done % spec.eval.every == 0:
            t = time.perf_counter()
            values = evaluator(sampling_generator(modules))
            eval_s += time.perf_counter() - t
            fid = next(v for k, v in values.items() if k.endswith("fid"))
            fids.append((done, fid))
            watch.on_eval(done, values)
    wall = time.perf_counter() - start
    best_step, best_fid = min(fids, key=lambda item: item[1])
    ada = modules.extras.get("ada")
    return {"config": name, "final_fid": fids[-1][1], "best_fid": best_fid, "best_step": best_step,
            "fids": fids, "p": ada.p if ada else None, "alarms": [line.split(":")[0] for line in alarms],
            "wall_s": wall, "step_s": step_s, "eval_s": eval_s, "monitor_s": watch.seconds,
            "registered_step": watch.registered_file(None, spec.train.steps)[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--n", type=int, default=100, help="generated images per FID (the data has 100)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated: {', '.join(CONFIGS)}")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    document = base_document(args.steps, args.eval_every, args.n)
    results = []
    for name in args.configs.split(","):  # each result as it comes: a long run can be cut short
        results.append(run(name, document))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "fids"}), flush=True)
    print(f"\nlfw-faces (100 grey faces) at 32 px, DCGAN ngf/ndf 32, batch 32, {args.steps} steps, "
          f"FID (Inception, n={args.n}) every {args.eval_every}\n")
    print(f"{'config':<13}{'final FID':>10}{'best FID':>10}{'at step':>9}{'p':>8}{'monitors':>10}{'of wall':>9}"
          f"{'of steps':>10}  alarms")
    for r in results:
        p = f"{r['p']:.3f}" if r["p"] is not None else "-"
        print(f"{r['config']:<13}{r['final_fid']:>10.1f}{r['best_fid']:>10.1f}{r['best_step']:>9}{p:>8}"
              f"{r['monitor_s']:>9.1f}s{r['monitor_s'] / r['wall_s']:>9.1%}{r['monitor_s'] / r['step_s']:>10.1%}"
              f"  {', '.join(a.split('ALARM ')[-1] for a in r['alarms']) or '-'}")
    print("\nFID histories:", {r["config"]: [round(f, 1) for _, f in r["fids"]] for r in results})
    print("monitor cost target: <= 3% of wall time")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
