"""Benchmark: few-shot adaptation (issue 14) at a CPU size: the report's table per target data set
(rows: source model x method plus the unadapted source; columns: adaptation iterations), from
sources pretrained here on Fashion-MNIST, adapted to --images LFW faces and OpenCV digits.

In process (the adapt task's own pieces, as the worker loop builds them: ``task.build_modules``,
``task.build_step``, the loop's batch stream; no Ray): pretrain each source (the generate task,
jobs/adapt/pretrain-*.yaml's models at --width), save its checkpoint (G, EMA-G, D), then adapt it
to each target with each method, scoring the sampling generator at every iteration listed with the
registered metrics ``fid`` (Inception-v3: torch-fidelity's weights when on disk, else the setup's
port of the same network) and ``kmmd_gauss`` (R kernlab's kmmd with a Gaussian kernel over
--repeats subsets: H0 acceptance rate at alpha 0.05, mean/median of the first- and third-order MMD
statistics). Both compare --n new samples (z ~ N(0, I)) with the few-shot images themselves (the
only target images the methods see); with 25 real images FID is heavily biased, comparable only
within one table. Tables (adapt/table.py) are printed as Markdown and, with --tracking-uri, logged
to one MLflow run as Markdown and CSV with each row's final sample grid.

    nice -n 15 .venv/bin/python benchmarks/bench_adapt.py --tracking-uri sqlite:////tmp/bench-adapt.db
    nice -n 15 .venv/bin/python benchmarks/bench_adapt.py --sources sngan,biggan --steps 500,2000,5000
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

SOURCES = {  # family: model options at --width (unconditional, so that fine-tuning applies too)
    "sngan": lambda width: {"g_ch": width, "d_ch": width},
    "biggan": lambda width: {"g_ch": width, "d_ch": width, "shared_dim": 8, "attn_res": 0},
}
ADVERSARIAL = {"loss": {"name": "hinge"}, "augment": {"diffaugment": "color,translation"},
               "optim": {"g": {"lr": 1e-4, "betas": [0.0, 0.9]}, "d": {"lr": 1e-4, "betas": [0.0, 0.9]}}}


def pretrain(family: str, args, directory: Path) -> Path:
    """Train source ``family`` in process and save its checkpoint (G, EMA-G, D) in ``directory``."""
    from ganforge.config import ExperimentSpec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream
    from ganforge.train.checkpoint import save_checkpoint

    spec = ExperimentSpec(name=f"bench-{family}", data={"name": "fashion-mnist", "resolution": 32, "limit": args.source_images},
                          model={"name": family, "z_dim": 64, "options": SOURCES[family](args.width)},
                          loss={"name": "hinge"}, optim={"g": {"lr": 2e-4, "betas": [0.0, 0.9]}, "d": {"lr": 2e-4, "betas": [0.0, 0.9]}},
                          train={"steps": args.pretrain_steps, "batch_size": 32, "ema": 0.99})
    task, dataset = task_of(spec), build_dataset(spec.data)
    meta = task.meta(dataset)
    modules = task.build_modules(spec, meta)
    step, stream = task.build_step(spec, modules), BatchStream(dataset, 32, 0)
    start = time.perf_counter()
    for index in range(args.pretrain_steps):
        losses = step([stream.next()], index)
        if (index + 1) % 50 == 0:  # progress on a shared machine
            print(f"  {family} pretraining step {index + 1} ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"source: {family} width {args.width} pretrained {args.pretrain_steps} steps on {len(dataset)} Fashion-MNIST "
          f"images in {time.perf_counter() - start:.0f} s (last d_loss {losses['d_loss']:.3f})", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(modules, args.pretrain_steps, spec.to_dict(), meta, directory)


def adapt_spec(method: str, source: Path, target: str, args):
    from ganforge.config import ExperimentSpec

    settings = {"perceptual_network": args.perceptual} if method == "bsa" else {}
    return ExperimentSpec(name=f"bench-{method}", data={"name": target, "resolution": 32, "channels": 1, "limit": args.images},
                          adapt={"source": str(source), "method": method, "settings": settings},
                          train={"steps": max(args.steps), "grid_size": 16, "batch_size": min(25, args.images)}, **({} if method == "bsa" else ADVERSARIAL))


def scorer(spec, args):
    """The registered fid + kmmd_gauss evaluation of a generator against the few-shot images."""
    from ganforge.metrics.evaluation import Evaluator

    options = {"kmmd_gauss_subset_size": args.images, "kmmd_gauss_repeats": args.repeats, "kmmd_gauss_ntimes": args.ntimes}
    return Evaluator.from_spec(spec, ["fid", "kmmd_gauss"], args.n, "inception", seed=0, options=options)


def save_grid(task, spec, generator, path: Path) -> str:
    """The run's sample grid (training images, reconstructions for BSA, new samples) as a PNG."""
    import torchvision.utils as vutils

    from ganforge.data import build_dataset

    inputs = task.grid_inputs(spec, build_dataset(spec.data), "cpu")
    images, per_row = task.sample_grid(generator.eval(), inputs)
    vutils.save_image(images.float(), path, nrow=per_row, normalize=True, value_range=(-1, 1))
    return str(path)


def adapt(method: str, source: Path, target: str, args, evaluate, grids: Path):
    """Adapt with ``method``; (scores at each of --steps, the final grid's path)."""
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream
    from ganforge.train.setup import sampling_generator

    spec = adapt_spec(method, source, target, args)
    task, dataset = task_of(spec), build_dataset(spec.data)
    meta = task.meta(dataset)
    modules = task.build_modules(spec, meta)
    step, stream = task.build_step(spec, modules), BatchStream(dataset, spec.train.batch_size, 0)
    scores, start = {}, time.perf_counter()
    for index in range(max(args.steps)):
        losses = step([stream.next()], index)
        if index + 1 in args.steps:
            scores[index + 1] = evaluate(sampling_generator(modules))
            sampling_generator(modules).train()
            print(f"  {method} it. {index + 1}: {format_scores(scores[index + 1])} ({time.perf_counter() - start:.0f} s, "
                  f"g_loss {losses['g_loss']:.3f})", flush=True)
    return scores, save_grid(task, spec, sampling_generator(modules), grids / f"{source.name}-{method}-{target}.png")


def format_scores(scores: dict) -> str:
    return ", ".join(f"{key} {value:.4g}" for key, value in scores.items())


def log_tables(args, target: str, rows: list, grids: dict) -> None:
    """One target's table, with its rows' grids, on the benchmark's MLflow run (experiment bench-adapt)."""
    from mlflow.tracking import MlflowClient

    from ganforge.adapt.table import log_table

    client = MlflowClient(args.tracking_uri)
    if getattr(args, "run_id", None) is None:  # one run for every target of this invocation
        experiment = client.get_experiment_by_name("bench-adapt")
        experiment_id = experiment.experiment_id if experiment else client.create_experiment("bench-adapt")
        args.run_id = client.create_run(experiment_id, run_name="bench-adapt").info.run_id
        client.log_param(args.run_id, "args", str({k: v for k, v in vars(args).items() if k != "run_id"})[:5000])
    print(f"logged to MLflow run {args.run_id} at {args.tracking_uri}:",
          log_table(client, args.run_id, target, rows, args.steps, grids=grids), flush=True)


def source_for(family: str, args, tmp: str) -> Path:
    """The source's checkpoint directory: reused from --source-dir, else pretrained now."""
    kept = Path(args.source_dir) / family if args.source_dir else Path(tmp) / family
    if (kept / "checkpoint.pt").is_file():
        print(f"source: {kept} (pretrained earlier)", flush=True)
        return kept
    return pretrain(family, args, kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default="sngan", help="source families: sngan, biggan")
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--source-images", type=int, default=10000, help="Fashion-MNIST images the sources train on")
    parser.add_argument("--width", type=int, default=8, help="g_ch = d_ch")
    parser.add_argument("--targets", default="lfw-faces,opencv-digits")
    parser.add_argument("--images", type=int, default=25, help="few-shot images per target")
    parser.add_argument("--steps", default="500,1000", help="adaptation iterations at which to score")
    parser.add_argument("--n", type=int, default=100, help="generated images per score")
    parser.add_argument("--perceptual", default="none", help="BSA's perceptual network: none (the default here: "
                        "the Inception port at 75 px costs seconds a step on 2 shared cores), inception, vgg16, auto")
    parser.add_argument("--repeats", type=int, default=10, help="KMMD subsets")
    parser.add_argument("--ntimes", type=int, default=100, help="KMMD bootstraps per subset (asymptotic bound)")
    parser.add_argument("--methods", default="bsa,finetune", help="methods of every source (see --rows)")
    parser.add_argument("--rows", help="source:method pairs instead, e.g. sngan:bsa,sngan:finetune,biggan:bsa")
    parser.add_argument("--source-dir", help="keep the pretrained sources here (and reuse them when there)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: a shared, oversubscribed machine)")
    parser.add_argument("--tracking-uri", help="log the tables and grids to this MLflow store")
    args = parser.parse_args()
    args.steps = sorted(int(s) for s in args.steps.split(","))
    pairs = args.rows or ",".join(f"{f}:{m}" for f in args.sources.split(",") for m in args.methods.split(","))
    args.pairs = [tuple(pair.split(":")) for pair in pairs.split(",")]
    args.sources = ",".join(dict.fromkeys(family for family, _ in args.pairs))
    import torch

    from ganforge.adapt.table import TableRow, markdown_table
    from ganforge.sampling import load_generator

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        found, grids = {}, Path(tmp) / "grids"
        grids.mkdir()
        for target in args.targets.split(","):
            evaluate = None
            rows, row_grids = [], {}
            for family in args.sources.split(","):
                source = found[family] = found.get(family) or source_for(family, args, tmp)  # pretrained when first needed
                evaluate = evaluate or scorer(adapt_spec("bsa", source, target, args), args)
                baseline = evaluate(load_generator(str(source)).generator)
                print(f"{target}: {family} unadapted: {format_scores(baseline)}", flush=True)
                rows.append(TableRow(family, "source", {0: baseline}, baseline=True))
                for method in [m for f, m in args.pairs if f == family]:
                    scores, row_grids[f"{family}-{method}"] = adapt(method, source, target, args, evaluate, grids)
                    rows.append(TableRow(family, method, scores))
            print(markdown_table(target, rows, args.steps), flush=True)
            if args.tracking_uri:
                log_tables(args, target, rows, row_grids)
    print(f"wall {time.perf_counter() - start:.0f} s; {args.n} samples vs the {args.images} target images; "
          f"BSA perceptual network: {args.perceptual}")


if __name__ == "__main__":
    main()
