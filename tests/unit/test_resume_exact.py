"""Exact resume, in process: stopped at step k, checkpointed, rebuilt and resumed, a run ends bit for
bit where the uninterrupted run ends.

The pieces are the worker loop's (train/loop.py): the spec's data set with its augmentation preset,
``build_modules``/``build_step``, ``BatchStream.seek(start * n_critic)``, ``save_checkpoint`` /
``load_checkpoint`` / ``restore``, and rank 0's periodic evaluation (an ``Evaluator`` called at
the same steps as ``Rank0Reporter``). Compared with ``torch.equal``, never allclose: G, D, EMA-G,
both optimizers' states, both schedules' states, torch's RNG state, and the data stream's
position (its next batch). Cases: Adam with a cosine schedule, EMA with a start step, an
Albumentations preset and DiffAugment, a stop mid-epoch; WGAN-GP with 2 critics per step (the
penalty's random mixing); periodic evaluation on; and 2 DDP ranks (a gloo group of two processes;
rank 0 writes the checkpoint, both restore it).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from statecompare import differences

pytestmark = pytest.mark.unit

IMAGES = 48  # batch 8: 6 batches an epoch, so the stops below fall mid-epoch
BASE = {
    "data": {"name": "digits", "resolution": 16, "limit": IMAGES},
    "model": {"z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
    "augment": {"preset": "blur+flip+affine", "diffaugment": "color,translation"},
    "schedule": {"name": "cosine"},
    "train": {"batch_size": 8, "ema": 0.9, "ema_start": 2},
}
CASES = {  # name: (overrides, steps, stop)
    "adam-cosine-ema-augment": ({}, 9, 5),
    "wgan-gp-2-critics": ({"loss": {"name": "wgan-gp", "n_critic": 2}, "model": {
        "z_dim": 16, "options": {"ngf": 8, "ndf": 8, "d_norm": "layer"}}}, 5, 2),
    "periodic-evaluation": ({"eval": {"every": 2, "metrics": ["kid"], "n": 16, "batch_size": 16,
                                      "extractor": "domain:digits"}}, 7, 3),
    # pix2pix: the same crop/flip on both images of a pair, and dropout as G's noise (torch's
    # global RNG, which the checkpoint carries).
    "paired-pix2pix-dropout": ({"data": {"name": "silhouettes", "resolution": 32, "options": {"source": "digits"}},
                                "model": {"name": "pix2pix", "options": {"ngf": 4, "ndf": 4, "dropout": 0.5}},
                                "augment": {"preset": "blur+flip", "diffaugment": ""}}, 6, 3),
    # CycleGAN: both image pools (full after the first step, then answering from their history)
    # travel in the checkpoint (GanModules.extras); without them the resumed D sees other images.
    "unpaired-cyclegan-pools": ({"task": "unpaired", "data": {"name": "digits-inverted", "resolution": 16},
                                 "model": {"name": "cyclegan", "options": {"ngf": 4, "ndf": 4, "n_blocks": 1,
                                                                           "n_layers_d": 2, "pool_size": 5}},
                                 "augment": {"preset": "blur+flip", "diffaugment": ""}}, 4, 2),
}


@dataclass
class Run:
    """One worker's training state, built as train/loop.py builds it."""

    spec: object
    modules: object
    step: object
    stream: object
    evaluator: object = None


def build_run(document: dict, steps: int, rank: int = 0, world: int = 1) -> Run:
    """Data set (with its preset), modules, step and batch stream for ``document`` at ``steps``."""
    from ganforge.augment import build_pipeline
    from ganforge.config import ExperimentSpec
    from ganforge.data import build_dataset
    from ganforge.documents import deep_merge
    from ganforge.metrics import Evaluator
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream

    spec = ExperimentSpec(**deep_merge(deep_merge(BASE, document), {"train": {"steps": steps},
                                                                   "scaling": {"workers": world}}))
    # Built before build_modules seeds torch: the first extractor load in a process moves torch's
    # global RNG (metrics/domain_classifier.py load_classifier initialises a DomainClassifier at
    # random before loading its weights; reported), which this test would otherwise see only in
    # whichever run loads it first in this pytest process.
    evaluator = Evaluator.from_spec(spec) if spec.eval.every and rank == 0 else None
    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    dataset.seed = spec.train.seed
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(dataset), world)
    step = task.build_step(spec, modules, rank, world)
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed, rank, world)
    return Run(spec, modules, step, stream, evaluator)


def train(run: Run, start: int, stop: int) -> None:
    """Steps ``start`` .. ``stop`` - 1 as the worker loop runs them (evaluation on rank 0)."""
    from ganforge.train.setup import sampling_generator

    run.stream.seek(start * run.spec.loss.n_critic)
    for step in range(start, stop):
        run.step([run.stream.next() for _ in range(run.spec.loss.n_critic)], step)
        if run.evaluator is not None and (step + 1) % run.spec.eval.every == 0:
            run.evaluator(sampling_generator(run.modules))


def resumed(document: dict, steps: int, stop: int, directory, rank: int = 0, world: int = 1) -> Run:
    """Train to ``stop``, checkpoint (rank 0), then a freshly built run restores and finishes."""
    from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint

    first = build_run(document, steps, rank, world)
    train(first, 0, stop)
    if rank == 0:
        save_checkpoint(first.modules, stop, first.spec.to_dict(), {}, directory)
    if world > 1:
        dist.barrier()  # the other rank reads what rank 0 wrote
    second = build_run(document, steps, rank, world)
    assert restore(second.modules, load_checkpoint(directory)) == stop
    train(second, stop, steps)
    return second


def final_state(run: Run) -> dict:
    """What must be identical: the checkpoint's training state and the stream's next batch."""
    from ganforge.train.checkpoint import training_state

    state = training_state(run.modules, run.spec.train.steps, {}, {})
    images, labels = run.stream.next()
    return {**state, "stream": {"index": run.stream.index, "images": images, "labels": labels}}


@pytest.mark.parametrize("name", CASES)
def test_stop_checkpoint_resume_equals_the_uninterrupted_run(name, tmp_path):
    document, steps, stop = CASES[name]
    whole = build_run(document, steps)
    train(whole, 0, steps)
    expected = final_state(whole)
    got = final_state(resumed(document, steps, stop, tmp_path))
    assert not differences(expected, got), differences(expected, got)[:10]
    assert expected["opt_g"]["state"] and expected["sched_g"]["last_epoch"] == steps  # compared something real


def _rank_main(rank: int, init_file: str, directory: str, out: str) -> None:
    """One of two DDP ranks: uninterrupted and resumed runs; writes where they differ."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        document, steps, stop = CASES["adam-cosine-ema-augment"]
        whole = build_run(document, steps, rank, 2)
        train(whole, 0, steps)
        expected = final_state(whole)
        got = final_state(resumed(document, steps, stop, directory, rank, 2))
        torch.save({"differences": differences(expected, got), "G": expected["G"]}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_ranks_resume_exactly_from_rank_0s_checkpoint(tmp_path):
    mp.spawn(_rank_main, args=(str(tmp_path / "pg"), str(tmp_path / "ckpt"), str(tmp_path / "out")), nprocs=2)
    results = [torch.load(f"{tmp_path / 'out'}.{rank}", weights_only=True) for rank in range(2)]
    assert [r["differences"] for r in results] == [[], []]
    assert not differences(results[0]["G"], results[1]["G"])  # the ranks stayed identical
