"""Benchmark: few-shot adaptation (issue 14) at a CPU size: BSA vs fine-tuning vs FreezeD at
equal steps, from one SNGAN pretrained here on Fashion-MNIST, to --images LFW faces.

In process (the adapt task's own pieces, as the worker loop builds them: ``task.build_modules``,
``task.build_step``, the loop's batch stream; no Ray, no MLflow): pretrain the source (the generate
task, jobs/adapt/pretrain-sngan.yaml's model at --width), save its checkpoint (G, EMA-G, D), then
adapt it with each method for --steps, scoring the sampling generator at every step listed.
Scores against the few-shot faces themselves (the only faces the methods see):

- FID of --n new samples (z ~ N(0, I)), Inception-v3 features (torch-fidelity's weights when on
  disk, else the setup's port of the same network): with 25 real images it is heavily biased and
  only comparable within this table;
- KMMD with a Gaussian kernel (median-distance bandwidth) as the report's tables give it: the H0
  acceptance rate at alpha 0.05 over --repeats subsets of 25 samples vs the 25 faces (permutation
  test, 200 permutations), and the mean and median of the unbiased MMD^2 statistic.

The first row is the unadapted source. Prints one Markdown table (rows: method, columns: steps).

    nice -n 19 .venv/bin/python benchmarks/bench_adapt.py            # defaults: the recorded run
    nice -n 19 .venv/bin/python benchmarks/bench_adapt.py --pretrain-steps 1500 --steps 100,500,2000

Not yet measured: on 2 shared cores at load 10-25 (2026-12-02) three niced runs timed out
before the first score (pretraining alone: 100 steps in 404 s at load ~10; 40 steps did not end
within 10 min at load ~20). Run it on an idle machine; the defaults should take a few minutes there.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

METHODS = ("bsa", "finetune", "freezed")


def pretrain(args, directory: Path) -> Path:
    """Train the source SNGAN in process and save its checkpoint (G, EMA-G, D) in ``directory``."""
    import torch

    from ganforge.config import ExperimentSpec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream
    from ganforge.train.checkpoint import save_checkpoint

    spec = ExperimentSpec(name="bench-source", data={"name": "fashion-mnist", "resolution": 32, "limit": args.source_images},
                          model={"name": "sngan", "z_dim": 64, "options": {"g_ch": args.width, "d_ch": args.width}},
                          loss={"name": "hinge"}, optim={"g": {"lr": 2e-4, "betas": [0.0, 0.9]}, "d": {"lr": 2e-4, "betas": [0.0, 0.9]}},
                          train={"steps": args.pretrain_steps, "batch_size": 32, "ema": 0.99})
    task, dataset = task_of(spec), build_dataset(spec.data)
    meta = task.meta(dataset)
    modules = task.build_modules(spec, meta)
    step, stream = task.build_step(spec, modules), BatchStream(dataset, 32, 0)
    start = time.perf_counter()
    for index in range(args.pretrain_steps):
        losses = step([stream.next()], index)
    print(f"source: SNGAN g_ch={args.width} pretrained {args.pretrain_steps} steps on {len(dataset)} Fashion-MNIST "
          f"images in {time.perf_counter() - start:.0f} s (last d_loss {losses['d_loss']:.3f})", flush=True)
    save_checkpoint(modules, args.pretrain_steps, spec.to_dict(), meta, directory)
    return directory


def adapt_spec(method: str, source: Path, args):
    from ganforge.config import ExperimentSpec

    adversarial = {"loss": {"name": "hinge"}, "augment": {"diffaugment": "color,translation"},
                   "optim": {"g": {"lr": 1e-4, "betas": [0.0, 0.9]}, "d": {"lr": 1e-4, "betas": [0.0, 0.9]}}}
    settings = {"perceptual_network": args.perceptual} if method == "bsa" else {}
    return ExperimentSpec(name=f"bench-{method}", data={"name": "lfw-faces", "resolution": 32, "channels": 1, "limit": args.images},
                          adapt={"source": str(source), "method": method, "settings": settings}, train={"steps": max(args.steps)},
                          **({} if method == "bsa" else adversarial))


class Scorer:
    """FID and KMMD of a generator's new samples against the few-shot images."""

    def __init__(self, spec, args):
        from ganforge.metrics.evaluation import Evaluator

        self.args = args
        self.evaluator = Evaluator.from_spec(spec, ["fid"], args.n, "inception", seed=0)
        self.real = self.evaluator.real_stats()

    def __call__(self, generator) -> dict:
        import torch

        from ganforge.metrics.evaluation import evaluate_features, generated_features
        from ganforge.metrics.kmmd import median_bandwidth, mmd_permutation_test

        fake = generated_features(generator, self.evaluator.extractor, self.args.n, seed=0)
        values = {"fid": evaluate_features(["fid"], fake, self.real)["fid"]}
        x, y = fake["pool"].double(), self.real.features.double()
        size = min(len(x), len(y))
        generator_ = torch.Generator().manual_seed(0)
        sigma = median_bandwidth(torch.cat([x[:size], y]))
        tests = [mmd_permutation_test(x[torch.randperm(len(x), generator=generator_)[:size]], y, sigma, 200, generator_)
                 for _ in range(self.args.repeats)]
        stats = [s for s, _ in tests]
        values.update(accept=sum(p > 0.05 for _, p in tests) / len(tests), mmd_mean=statistics.mean(stats),
                      mmd_median=statistics.median(stats))
        return values


def adapt(method: str, source: Path, args, scorer) -> dict[int, dict]:
    """Adapt with ``method``; scores of the sampling generator at each of --steps."""
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream
    from ganforge.train.setup import sampling_generator

    spec = adapt_spec(method, source, args)
    task, dataset = task_of(spec), build_dataset(spec.data)
    meta = task.meta(dataset)
    modules = task.build_modules(spec, meta)
    step, stream = task.build_step(spec, modules), BatchStream(dataset, spec.train.batch_size, 0)
    scores, start = {}, time.perf_counter()
    for index in range(max(args.steps)):
        losses = step([stream.next()], index)
        if index + 1 in args.steps:
            scores[index + 1] = scorer(sampling_generator(modules))
            print(f"{method} step {index + 1}: {scores[index + 1]} ({time.perf_counter() - start:.0f} s, "
                  f"g_loss {losses['g_loss']:.3f})", flush=True)
    return scores


def table(rows: dict[str, dict[int, dict]], steps: list[int]) -> str:
    head = "| method | " + " | ".join(f"{s} steps: FID / KMMD accept / MMD² mean / median" for s in steps) + " |"
    lines = [head, "|" + "---|" * (len(steps) + 1)]
    for name, scores in rows.items():
        cells = [" / ".join(f"{scores[s][k]:.4g}" for k in ("fid", "accept", "mmd_mean", "mmd_median"))
                 if s in scores else "" for s in steps]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-steps", type=int, default=150)
    parser.add_argument("--source-images", type=int, default=10000, help="Fashion-MNIST images the source trains on")
    parser.add_argument("--width", type=int, default=4, help="SNGAN g_ch = d_ch")
    parser.add_argument("--images", type=int, default=25, help="few-shot faces")
    parser.add_argument("--steps", default="50,150", help="adaptation steps at which to score")
    parser.add_argument("--n", type=int, default=50, help="generated images per score")
    parser.add_argument("--perceptual", default="none", help="BSA's perceptual network: none (the default here: "
                        "the Inception port at 75 px costs seconds a step on 2 shared cores), inception, vgg16, auto")
    parser.add_argument("--repeats", type=int, default=10, help="KMMD subsets")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--source-dir", help="keep the pretrained source here (and reuse it when it is there)")
    args = parser.parse_args()
    args.steps = sorted(int(s) for s in args.steps.split(","))
    import torch

    from ganforge.sampling import load_generator

    torch.set_num_threads(2)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        kept = Path(args.source_dir) if args.source_dir else None
        if kept is not None and (kept / "checkpoint.pt").is_file():
            source = kept
            print(f"source: {kept} (pretrained earlier)", flush=True)
        else:
            source = pretrain(args, kept or Path(tmp))
        scorer = Scorer(adapt_spec("bsa", source, args), args)
        rows = {"source (unadapted)": {s: scorer(load_generator(str(source)).generator) for s in args.steps[:1]}}
        for method in args.methods.split(","):
            rows[method] = adapt(method, source, args, scorer)
    print(table(rows, args.steps))
    print(f"wall {time.perf_counter() - start:.0f} s; FID/KMMD on Inception features ({scorer.evaluator.extractor.name}) "
          f"of {args.n} samples vs the {args.images} faces; BSA perceptual network: {args.perceptual}")


if __name__ == "__main__":
    main()
