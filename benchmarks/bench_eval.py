"""Benchmark: what the real-statistics cache saves, and what evaluation costs a training run.

A. FID of n generated images (default 10,000) with the real statistics recomputed, read from the
   disk cache (a new process / Tune trial) and from memory (periodic evaluation in one run):
   medians of --repeats timed runs after a warm-up, and their ratios.
B. The evaluation's share of a training run: median time of ganforge's training step (default
   spec: DCGAN, batch 64, 32 px) against one periodic evaluation (--eval-metrics at --eval-n,
   real statistics in memory) every --every steps.

Real data: 10,000 jittered copies of scikit-learn's digits at 32 px (--real-n), so that n real
images exist; features: the digits domain classifier (default) or ``--extractor inception:port``
(about 0.15 s per image on 2 CPU cores: use a small --n there, or a GPU with --device cuda).

    .venv/bin/python benchmarks/bench_eval.py
    .venv/bin/python benchmarks/bench_eval.py --extractor inception:port --n 100 --repeats 1 --skip-training
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from ganforge.config import ExperimentSpec
from ganforge.metrics import resolve_extractor
from ganforge.metrics.domain_classifier import ensure_classifier
from ganforge.metrics.evaluation import Evaluator, metric_definitions
from ganforge.metrics.extractor import ExtractorContext
from ganforge.metrics.extractor_domain import load_domain
from ganforge.metrics.real_stats import forget_in_memory
from ganforge.train.setup import build_modules, build_step


class JitteredDigits(torch.utils.data.Dataset):
    """scikit-learn digits at 32 px in [-1, 1], each copy shifted by up to 2 px (distinct images)."""

    def __init__(self, n: int, seed: int = 0):
        from sklearn.datasets import load_digits

        digits = load_digits()
        base = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16 * 2 - 1
        base = F.interpolate(base, size=(32, 32), mode="bilinear", align_corners=False)
        g = torch.Generator().manual_seed(seed)
        index = torch.arange(n) % len(base)
        shifts = torch.randint(-2, 3, (n, 2), generator=g)
        self.images = torch.stack([base[i].roll(tuple(s.tolist()), dims=(1, 2)) for i, s in zip(index, shifts)])
        self.labels = torch.tensor(digits.target)[index]
        self.num_classes, self.img_shape = 10, (1, 32, 32)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def timed(fn, repeats: int) -> float:
    """Median wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_extractor(name: str, device: str):
    """The digits domain classifier (trained on the 1,797 originals) or a named extractor."""
    if name != "domain:digits":
        return resolve_extractor(name, ExtractorContext(device=device))
    base = JitteredDigits(1797)
    return load_domain(ensure_classifier("digits", dataset=base, data={"bench": "digits"}), "digits", device)


def evaluator_for(args, metrics: list[str], n: int, data: JitteredDigits, extractor) -> Evaluator:
    """An Evaluator over ``data`` built directly (the bench's data set is not a registered one)."""
    return Evaluator(metric_definitions(metrics), extractor, data, {"bench": "jittered-digits", "n": len(data)}, n,
                     seed=0, batch_size=args.batch_size)


def bench_cache(args, generator, data, extractor) -> None:
    """Part A: FID with real statistics recomputed / from disk / from memory."""
    evaluator = evaluator_for(args, ["fid"], args.n, data, extractor)
    evaluator(generator)  # warm-up: fills the disk and memory caches, loads the network

    def uncached():
        forget_in_memory()
        evaluator.real_stats(refresh=True)
        evaluator(generator)

    def from_disk():
        forget_in_memory()
        evaluator(generator)

    rows = [("recomputed real statistics", timed(uncached, args.repeats)),
            ("real statistics from disk cache", timed(from_disk, args.repeats)),
            ("real statistics in memory", timed(lambda: evaluator(generator), args.repeats))]
    print(f"\nA. FID, n={args.n} generated vs {min(args.n, len(data))} real, extractor {extractor.name}, "
          f"median of {args.repeats}")
    print(f"{'mode':<34}{'seconds':>10}{'vs recomputed':>16}")
    for label, seconds in rows:
        print(f"{label:<34}{seconds:>10.2f}{rows[0][1] / seconds:>15.2f}x")


def bench_training_share(args, data, extractor) -> None:
    """Part B: one periodic evaluation against --every training steps."""
    spec = ExperimentSpec()
    modules = build_modules(spec, (1, 32, 32), 0, device=args.device)
    step = build_step(spec, modules, device=args.device)
    loader = torch.utils.data.DataLoader(data, batch_size=spec.train.batch_size, shuffle=True, drop_last=True)
    batches = iter(loader)
    counter = iter(range(10**9))

    def one_step():
        real, y = next(batches)
        step([(real.to(args.device), y.to(args.device))], next(counter))

    timed(one_step, 5)  # warm-up
    step_s = timed(one_step, args.steps)
    evaluator = evaluator_for(args, args.eval_metrics.split(","), args.eval_n, data, extractor)
    generator = modules.G_ema or modules.G
    evaluator(generator)  # warm-up: real statistics into memory
    eval_s = timed(lambda: evaluator(generator), args.repeats)
    print(f"\nB. training step (default spec: DCGAN, batch {spec.train.batch_size}, 32 px): {step_s * 1000:.1f} ms "
          f"(median of {args.steps}); evaluation ({args.eval_metrics}, n={args.eval_n}, {extractor.name}): "
          f"{eval_s:.2f} s (median of {args.repeats})")
    print(f"{'eval every':<12}{'train s':>10}{'eval s':>10}{'eval share':>12}")
    for every in args.every:
        train_s = every * step_s
        print(f"{every:<12}{train_s:>10.1f}{eval_s:>10.2f}{eval_s / (train_s + eval_s):>11.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10000, help="generated images for part A")
    parser.add_argument("--real-n", type=int, default=10000, help="real images in the jittered-digits set")
    parser.add_argument("--extractor", default="domain:digits")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed training steps for part B")
    parser.add_argument("--every", type=int, nargs="+", default=[1000, 500], help="eval intervals for part B")
    parser.add_argument("--eval-n", type=int, default=5000)
    parser.add_argument("--eval-metrics", default="fid,kid")
    parser.add_argument("--skip-training", action="store_true", help="run part A only")
    args = parser.parse_args()
    os.environ.setdefault("GANFORGE_CACHE_DIR", tempfile.mkdtemp(prefix="ganforge-bench-"))
    torch.manual_seed(0)
    data = JitteredDigits(args.real_n)
    extractor = make_extractor(args.extractor, args.device)
    generator = build_modules(ExperimentSpec(), (1, 32, 32), 0, device=args.device).G
    print(f"torch threads: {torch.get_num_threads()}, device: {args.device}, cache: {os.environ['GANFORGE_CACHE_DIR']}")
    bench_cache(args, generator, data, extractor)
    if not args.skip_training:
        bench_training_share(args, data, extractor)


if __name__ == "__main__":
    main()
