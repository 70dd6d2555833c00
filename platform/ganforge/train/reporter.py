"""Rank 0's side effects during training: progress records, MLflow metrics, sample grids,
periodic evaluation, and at the end the final checkpoint and the registered generator."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import mlflow
import torch
from mlflow.entities import Metric, RunTag
from mlflow.tracking import MlflowClient

from ganforge import tracking
from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state, save_checkpoint
from ganforge.tasks import task_of
from ganforge.train.monitors.watch import REGISTERED_STEP_TAG, Watch
from ganforge.train.progress import ProgressClient
from ganforge.train.setup import sampling_generator
from ganforge.train.step import host_values


class Rank0Reporter:
    """Called by the worker loop on rank 0 after every step."""

    def __init__(self, spec, config: dict, meta: dict, modules, device, start_step: int, source: str | None = None,
                 dataset=None):
        self.spec, self.meta, self.modules, self.device = spec, meta, modules, device
        self.task = task_of(spec)
        self.grid_inputs = self.task.grid_inputs(spec, dataset, device)
        self.run_id = config["run_id"]
        self.tracking_uri = config["tracking_uri"]
        self.client = MlflowClient(self.tracking_uri)
        self.progress = ProgressClient(config.get("progress"))
        if start_step:  # a resume, a recovery from a worker failure, or a Tune trial's restart
            self.client.log_batch(self.run_id, tags=[RunTag("ganforge.restored_from_step", str(start_step)),
                                                     RunTag("ganforge.restored_from", str(source)[:5000])])
        self.sums: dict[str, float] = {}
        self.count = 0
        self.images_per_step = spec.train.batch_size * spec.loss.n_critic
        self.interval_start = time.perf_counter()
        self.evaluator = None
        self.best = None  # built with the evaluator, seeded from the run's history
        self.logging = None  # the interval metrics still being written (MLflow's async logging)
        self.start_step = start_step
        # The monitors, ADA's logged p / r_t and the best evaluated generator (train/monitors/).
        self.watch = Watch(spec, modules, meta, device, self.client, self.run_id, lambda: self.evaluator)

    def after_step(self, done: int, metrics: dict, clock=None) -> dict:
        """Accumulate, and on interval boundaries log; returns extra metrics for Ray's report.
        ``metrics`` may be device tensors (a sync-free step): they are summed on the device and
        read once per log interval. ``clock``: the loop's PhaseClock, logged per interval."""
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1
        extra: dict[str, float] = {}
        train = self.spec.train
        if done % train.log_every == 0 or done == train.steps:
            extra.update(self._log_interval(done, clock))
            extra.update(self.watch.on_log(done))
        if train.sample_every and done % train.sample_every == 0:
            self.sample_grid(done)
        if self.spec.eval.every and done % self.spec.eval.every == 0:
            extra.update(self.evaluate(done))
        self.progress.tick(done)
        return extra

    def _log_interval(self, done: int, clock=None) -> dict:
        # Wall time from the previous boundary to this one: the previous interval's own logging
        # counts too, so images_per_s is what the run delivers.
        now = time.perf_counter()
        elapsed, self.interval_start = now - self.interval_start, now
        means = {key: total / self.count for key, total in host_values(self.sums).items()}
        means["images_per_s"] = self.images_per_step * self.count / max(elapsed, 1e-9)
        means["lr_g"] = self.modules.opt_g.param_groups[0]["lr"]
        means["lr_d"] = self.modules.opt_d.param_groups[0]["lr"]
        if clock is not None:
            means.update(clock.drain(self.count))
        self._log_in_background(means, done)
        self.progress.interval(done, {k: v for k, v in means.items() if k.endswith("loss")}, means["images_per_s"])
        self.sums, self.count = {}, 0
        return means

    def _log_in_background(self, metrics: dict[str, float], done: int) -> None:
        """Interval metrics through MLflow's async logging: the step loop does not wait for the
        store (a sqlite commit took 20-260 ms here, 2-20% of an interval); one write in flight."""
        self.flush()
        now = mlflow.utils.time.get_current_time_millis()
        batch = [Metric(key, float(value), now, done) for key, value in metrics.items()]
        self.logging = self.client.log_batch(self.run_id, metrics=batch, synchronous=False)

    def flush(self) -> None:
        """Wait for the interval metrics in flight (before the run ends or reads its metrics)."""
        if self.logging is not None:
            self.logging.wait()
            self.logging = None

    @torch.no_grad()
    def sample_grid(self, done: int) -> str:
        """Log a grid from fixed latents (the same every time, so grids show progress)."""
        generator = sampling_generator(self.modules)
        was_training = generator.training
        generator.eval()
        images, per_row = self.task.sample_grid(generator, self.grid_inputs)
        generator.train(was_training)
        return tracking.log_image_grid(self.client, self.run_id, images, done, nrow=per_row)

    def evaluate(self, done: int) -> dict:
        """Periodic evaluation of the sampling generator; adds ``<metric>_best`` keys."""
        if self.evaluator is None:  # resolved once: extractor, real statistics (cached on disk)
            self.evaluator = self.task.build_evaluator(self.spec, self.device)
            self.best = seeded_best(self.client, self.run_id, self.start_step)
            extractor = getattr(self.evaluator, "extractor", None)
            if extractor is not None:
                self.client.set_tag(self.run_id, "ganforge.eval_extractor", str(extractor.identity))
            self.watch.watch_evaluator(self.evaluator)
        results = self.evaluator(sampling_generator(self.modules), best=self.best)
        numeric = {k: float(v) for k, v in results.items() if isinstance(v, (int, float))}
        tracking.log_metrics(self.client, self.run_id, numeric, done)
        return {**numeric, **self.watch.on_eval(done, numeric)}

    def diverged(self, message: str, step: int) -> None:
        """Record a non-finite loss on the run (the last good checkpoint stays in Ray storage)."""
        self.flush()
        self.client.set_tag(self.run_id, tracking.ERROR_TAG, message[:5000])

    def finish(self, step: int) -> None:
        """Final grid, final checkpoint as an artifact, the generator logged and registered."""
        self.flush()
        self.sample_grid(step)
        spec_dict = self.spec.to_dict()
        with tempfile.TemporaryDirectory() as directory:
            save_checkpoint(self.modules, step, spec_dict, self.meta, directory)
            self.client.log_artifact(self.run_id, str(Path(directory) / "checkpoint.pt"), "checkpoint")
            generator_file = atomic_save(
                generator_state(sampling_generator(self.modules), spec_dict, self.meta, step),
                Path(directory) / GENERATOR_FILE)
            # The registered generator is the best evaluated one (the last without evaluations).
            generator_file, registered_step = self.watch.registered_file(generator_file, step)
            self.client.set_tag(self.run_id, REGISTERED_STEP_TAG, str(registered_step))
            tracking.log_generator(self.run_id, self.tracking_uri, generator_file, self.spec.tracking.registered_model,
                                   version_tags={"ganforge.step": str(registered_step)})
        self.watch.close()


def seeded_best(client: MlflowClient, run_id: str, start_step: int):
    """A BestTracker holding the run's ``*_best`` values logged up to ``start_step``, so bests
    survive ``--resume`` and failure recovery (values logged past the restored step are
    discarded: that part of the run is trained again)."""
    from ganforge.metrics import BestTracker

    seeds = {}
    for key in client.get_run(run_id).data.metrics:
        if key.endswith("_best"):
            history = [m for m in client.get_metric_history(run_id, key) if m.step <= start_step]
            if history:
                seeds[key.removesuffix("_best")] = max(history, key=lambda m: (m.step, m.timestamp)).value
    return BestTracker(seeds)
