"""The worker loop: the one training loop that train, tune and submit all run.

Each worker builds data, models and the step from the spec, restores the latest checkpoint
(Ray's after a failure, else the one ``--resume`` named), then steps. Every
``checkpoint_every`` steps all ranks report (a barrier); rank 0 attaches the checkpoint. It runs
in Ray Train workers, or in a one-worker Tune trial's own process (``train/session.py``).
Side effects (progress bar, MLflow, sample grids, evaluation) happen on rank 0 only.
On a GPU the step reads no losses; every rank checks them (``LossGuard.check``) at the same
boundaries, where the host reads anyway: log, sample, evaluation and checkpoint steps.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from ganforge.augment import build_pipeline
from ganforge.config import ExperimentSpec
from ganforge.data import build_dataset
from ganforge.train import precision as device_policy
from ganforge.train.batches import BatchStream
from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint
from ganforge.tasks import task_of
from ganforge.train.progress import PhaseClock
from ganforge.train.monitors import agree_to_stop
from ganforge.train.monitors.watch import check_due
from ganforge.train.reporter import Rank0Reporter
from ganforge.train.session import TrainSession
from ganforge.train.step import NonFiniteLossError, host_values
from ganforge.train.storage import local_copy

DIVERGED = "diverged"


def _restore_point(config: dict, session) -> tuple[dict | None, str | None]:
    """(checkpoint, where it came from) to continue from: Ray's (after a worker failure) wins
    over ``resume_from`` (--resume, or the Tune checkpoint a trial restarts from)."""
    checkpoint = session.checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            return load_checkpoint(directory), checkpoint.path
    if config.get("resume_from"):  # staged in the run's storage, so every worker reads it alike
        with local_copy(config["resume_from"]) as local:
            return load_checkpoint(local), str(config["resume_from"])
    return None, None


def _report(session, modules, step: int, spec_dict: dict, meta: dict, metrics: dict) -> None:
    """All ranks report (a barrier); rank 0 attaches an atomically written checkpoint."""
    if session.rank != 0:
        session.report(metrics)
        return
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(modules, step, spec_dict, meta, directory)
        session.report(metrics, directory)


def reads_losses(spec: ExperimentSpec, done: int) -> bool:
    """Whether step ``done`` is a boundary where the host reads the losses (same on every rank)."""
    train, every = spec.train, [spec.train.log_every, spec.train.checkpoint_every, spec.train.sample_every, spec.eval.every]
    return done == train.steps or any(n and done % n == 0 for n in every)


def _build_data(spec: ExperimentSpec):
    dataset = build_dataset(spec.data)
    dataset.set_transform(build_pipeline(spec.augment))
    dataset.seed = spec.train.seed
    return dataset


def train_loop_per_worker(config: dict) -> None:
    """Ray Train entry point. ``config``: spec (dict), run_id, tracking_uri, resume_from."""
    run_loop(config, TrainSession())


def run_loop(config: dict, session) -> None:
    """The loop under ``session`` (train/session.py): a Ray Train worker's, or a Tune trial's."""
    spec = ExperimentSpec(**config["spec"])
    # MLflow sources the spec names (model.init_from) resolve in the run's own store.
    os.environ.setdefault("MLFLOW_TRACKING_URI", config["tracking_uri"])
    rank, world = session.rank, session.world
    torch.set_num_threads(spec.train.torch_threads or max(1, int(spec.scaling.cpus_per_worker)))
    device = session.device()
    device_policy.configure_backends(device, spec.train.deterministic)
    task = task_of(spec)  # what is learnt: its data contract, modules and step (tasks/)
    dataset = _build_data(spec)
    meta = task.meta(dataset)
    modules = task.build_modules(spec, meta, world, device)
    step_fn = task.build_step(spec, modules, rank, world, device)
    payload, source = _restore_point(config, session)
    start = restore(modules, payload) if payload else 0
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed, rank, world, spec.data.num_workers,
                         prepare=session.prepare,
                         pin_memory=device_policy.pin_memory(device))
    stream.seek(start * spec.loss.n_critic)
    spec_dict = spec.to_dict()
    reporter = Rank0Reporter(spec, config, meta, modules, device, start, source, dataset) if rank == 0 else None
    if reporter:
        reporter.watch.attach(step_fn)  # D's outputs on reals feed the overfitting monitor's r_t
    stop = False
    train = spec.train
    guard = getattr(step_fn, "guard", None)  # the step's deferred non-finite check, if it has one
    clock = PhaseClock()  # where a step's time goes; rank 0 logs it (time_*_ms)
    for step in range(start, train.steps):
        clock.lap("other")
        batches = [stream.next() for _ in range(spec.loss.n_critic)]
        clock.lap("data")
        done = step + 1
        try:
            metrics = step_fn(batches, step)
            if guard is not None and reads_losses(spec, done):
                guard.check()
        except NonFiniteLossError as err:
            # Every rank sees the same all-reduced losses, so all stop here together.
            bad = step if err.step is None else err.step
            if reporter:
                reporter.diverged(str(err), bad)
            session.report({"step": bad, "status": DIVERGED})
            return
        clock.lap("step")
        extra = reporter.after_step(done, metrics, clock) if reporter else {}
        clock.lap("rank0")
        # An alarm train.stop_on lists (rank 0's monitors) stops every rank here, after a checkpoint.
        stop = check_due(spec, done) and agree_to_stop(bool(reporter and reporter.watch.stop), world, device)
        if done % train.checkpoint_every == 0 or done == train.steps or stop:
            _report(session, modules, done, spec_dict, meta, {"step": done, **host_values(metrics), **extra})
            clock.lap("report")
        if stop:
            break
    if reporter:
        reporter.finish(done if stop else train.steps)
