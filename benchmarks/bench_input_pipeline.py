"""Benchmark: images per second the input pipeline (data set + Albumentations + DataLoader) delivers.

A. The training loop's own loader (``BatchStream``: seeded sampler, per-epoch DataLoader) over a
   data set at 32 px, batch 64, for each preset x num_workers: batches after a warm-up, median
   over --repeats. Epoch roll-overs (new DataLoader, new worker processes) are included, as in a run.
B. What seeding the augmentation per (seed, epoch, index) costs: microseconds per image for the
   pipeline alone, with and without the per-image ``set_random_state``.

The consuming side (training step throughput) is measured elsewhere; ``loader_images_per_second``
is the figure to set against it.

    .venv/bin/python benchmarks/bench_input_pipeline.py
    .venv/bin/python benchmarks/bench_input_pipeline.py --data shapes --workers 0 1 2 --batches 50
"""
from __future__ import annotations

import argparse
import statistics
import time

from ganforge.augment import build_pipeline
from ganforge.config import ExperimentSpec, spec_from_dict
from ganforge.data import build_dataset
from ganforge.train.batches import BatchStream


def loader_images_per_second(spec: ExperimentSpec, batches: int = 30, repeats: int = 3, warmup: int = 3) -> float:
    """Median images/s over ``repeats`` runs of ``batches`` batches from ``spec``'s input pipeline."""
    dataset = build_dataset(spec.data)
    dataset.seed = spec.train.seed
    dataset.set_transform(build_pipeline(spec.augment))
    batch = spec.per_worker_batch()
    rates = []
    for _ in range(repeats):
        stream = BatchStream(dataset, batch, spec.train.seed, num_workers=spec.data.num_workers)
        for _ in range(warmup):
            stream.next()
        start = time.perf_counter()
        for _ in range(batches):
            stream.next()
        rates.append(batches * batch / (time.perf_counter() - start))
    return statistics.median(rates)


def seeding_cost_us(spec: ExperimentSpec, n: int = 2000) -> tuple[float, float]:
    """(µs per image unseeded, µs per image seeded per sample) for ``spec``'s augmentation."""
    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    images = [dataset.image(i % len(dataset)) for i in range(n)]
    start = time.perf_counter()
    for image in images:
        dataset.transform(image=image)
    plain = time.perf_counter() - start
    start = time.perf_counter()
    for index, image in enumerate(images):
        dataset.augment(image, index)
    seeded = time.perf_counter() - start
    return plain / n * 1e6, seeded / n * 1e6


def make_spec(data: str, preset: str, workers: int, batch: int, resolution: int) -> ExperimentSpec:
    """The spec of one benchmark row."""
    return spec_from_dict({"data": {"name": data, "resolution": resolution, "num_workers": workers},
                           "augment": {"preset": preset}, "train": {"batch_size": batch}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--presets", nargs="+", default=["none", "blur+flip+affine"])
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    print(f"A. {args.data} at {args.resolution} px, batch {args.batch}: images/s delivered "
          f"(median of {args.repeats} x {args.batches} batches after warm-up)")
    print(f"{'preset':<20}{'num_workers':>12}{'images/s':>12}")
    for preset in args.presets:
        for workers in args.workers:
            spec = make_spec(args.data, preset, workers, args.batch, args.resolution)
            rate = loader_images_per_second(spec, args.batches, args.repeats)
            print(f"{preset:<20}{workers:>12}{rate:>12.0f}")

    print("\nB. per-image augmentation cost, µs (one process)")
    print(f"{'preset':<20}{'unseeded':>10}{'seeded':>10}{'overhead':>10}")
    for preset in (p for p in args.presets if p != "none"):
        plain, seeded = seeding_cost_us(make_spec(args.data, preset, 0, args.batch, args.resolution))
        print(f"{preset:<20}{plain:>10.1f}{seeded:>10.1f}{seeded - plain:>10.1f}")


if __name__ == "__main__":
    main()
