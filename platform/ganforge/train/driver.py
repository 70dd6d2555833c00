"""The driver side of ``ganforge train``: Ray, the MLflow run, the TorchTrainer, the outcome."""
from __future__ import annotations

import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray
from mlflow.tracking import MlflowClient
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from ganforge import tracking
from ganforge.config import ExperimentSpec
from ganforge.console import is_terminal, say
from ganforge.raycluster import ray_session
from ganforge.train import failure
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.loop import train_loop_per_worker
from ganforge.train.storage import join, latest_checkpoint, local_copy, stage, storage_root

__all__ = ["TrainingError", "ResumeError", "TrainOutcome", "run_training", "build_trainer", "storage_root", "run_checkpoint", "say"]


class TrainingError(RuntimeError):
    """Training did not complete; the message says why and where the last good state is."""


class ResumeError(TrainingError):
    """The ``--resume`` target is wrong (found before Ray starts); the message says how to fix it."""


@dataclass
class TrainOutcome:
    """What a finished training run produced."""

    run_id: str
    tracking_uri: str
    checkpoint_path: str | None
    metrics: dict
    registered_model: str | None
    registered_version: str | None = None


def run_checkpoint(run) -> str | None:
    """The newest Ray Train checkpoint of an MLflow run (under its ``CHECKPOINT_TAG`` directory)."""
    ray_dir = run.data.tags.get(tracking.CHECKPOINT_TAG)
    return latest_checkpoint(ray_dir) if ray_dir else None


def resolve_resume(resume: str, tracking_uri: str) -> tuple[str | None, str | None]:
    """(checkpoint location or None, MLflow run id to continue) for ``--resume`` (a path or a run
    id). A run killed before its first checkpoint has none: it trains again from step 0."""
    if Path(resume).exists():
        return resume, None
    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(resume)
    except Exception:
        raise ResumeError(f"--resume {resume!r}: no such checkpoint path, and no MLflow run with that id "
                            f"in {tracking_uri}. Pass a run id that `mlflow ui` shows, or a checkpoint "
                            "directory.") from None
    latest = run_checkpoint(run)
    if latest is not None:
        return latest, resume
    import mlflow

    try:
        local = mlflow.artifacts.download_artifacts(run_id=resume, artifact_path="checkpoint", tracking_uri=tracking_uri)
    except Exception:
        say(f"run {resume} has no checkpoint yet: training it from step 0 in the same MLflow run")
        return None, resume
    return local, resume


def checkpoint_step(location: str | None) -> int | None:
    """The step a checkpoint (local or on storage) was written at; None without one."""
    if location is None:
        return None
    with local_copy(location) as local:
        return int(load_checkpoint(local, mmap=True).get("step", 0))  # mmap: the workers load the weights


def _check_steps_left(resume_from: str, spec: ExperimentSpec) -> int:
    """The checkpoint's step; refuses a resume with nothing to train (it would only log and
    register the same model again)."""
    step = checkpoint_step(resume_from)
    if step >= spec.train.steps:
        raise ResumeError(f"--resume {resume_from}: already at step {step}, and train.steps={spec.train.steps}; "
                            f"nothing to train. To train on, raise it: --set train.steps={step + spec.train.steps}")
    return step


def uses_gpu(spec: ExperimentSpec) -> bool:
    """Whether the run's workers take a GPU each (``auto``: when the cluster has GPUs)."""
    if spec.scaling.use_gpu == "auto":
        return ray.cluster_resources().get("GPU", 0) >= 1
    return bool(spec.scaling.use_gpu)


def build_trainer(spec: ExperimentSpec, loop_config: dict, run_name: str, callbacks: list | None = None) -> TorchTrainer:
    """The TorchTrainer for ``spec`` (also used by tune's per-trial driver, with its callbacks)."""
    use_gpu = uses_gpu(spec)
    return TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=spec.scaling.workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": spec.scaling.cpus_per_worker},
                                     placement_strategy=spec.scaling.placement_strategy),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            # A unique name: re-using one silently resumes that earlier Ray run (STACK-NOTES).
            name=run_name, storage_path=storage_root(spec),
            failure_config=FailureConfig(max_failures=spec.train.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=callbacks,
        ),
    )


def unique_run_name(spec: ExperimentSpec) -> str:
    """A Ray run name no earlier run has."""
    return f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def default_resume_command(spec: ExperimentSpec) -> str:
    """What continues a run when the caller gave no command line (library use)."""
    return shlex.join(["ganforge", "train", f"{spec.name}.yaml"])


def run_training(spec: ExperimentSpec, address: str | None = None, resume: str | None = None,
                 command: str | None = None, verbose: bool = False) -> TrainOutcome:
    """Train ``spec`` on Ray Train and record it in MLflow; raises TrainingError on failure.

    ``command``: the command line that started this (without --resume), for the line that says
    how to continue a failed run.
    """
    tracking_uri = tracking.resolve_tracking_uri(spec)
    resume_from, run_id = resolve_resume(resume, tracking_uri) if resume else (None, None)
    start = _check_steps_left(resume_from, spec) if resume_from else 0  # read once, before Ray
    command = command or default_resume_command(spec)
    with ray_session(address, verbose=verbose):
        client = MlflowClient(tracking_uri)
        if run_id is None:
            run_id = tracking.create_run(spec, tracking_uri, tags={"ganforge.resumed_from": resume_from or ""})
        else:
            client.update_run(run_id, status="RUNNING")
        run_name = unique_run_name(spec)
        run_dir = join(storage_root(spec), run_name)
        try:
            return _fit(spec, client, tracking_uri, run_id, run_name, run_dir, resume_from, start)
        except BaseException as err:
            raise _failed(err, client, run_id, run_dir, resume_from, f"{command} --resume {run_id}") from None


def _fit(spec, client, tracking_uri, run_id, run_name, run_dir, resume_from, start: int) -> TrainOutcome:
    from ganforge.train.progress import ProgressPrinter, ProgressSink

    client.set_tag(run_id, tracking.CHECKPOINT_TAG, run_dir)
    client.set_tag(run_id, tracking.ERROR_TAG, "")  # a resumed run starts without its old error
    staged = stage(resume_from, run_dir) if resume_from and "://" not in resume_from else resume_from
    say(f"MLflow run {run_id} ({tracking_uri}); starting {spec.scaling.workers} worker(s)"
        + (f", continuing from step {start}" if start else ""))
    sink = ProgressSink.remote()
    config = {"spec": spec.to_dict(), "run_id": run_id, "tracking_uri": tracking_uri, "resume_from": staged,
              "progress": sink}
    with ProgressPrinter(sink, spec.train.steps, start, terminal=is_terminal()):
        result = build_trainer(spec, config, run_name).fit()
    return _outcome(result, spec, run_id, tracking_uri, client)


def _failed(err: BaseException, client, run_id: str, run_dir: str, resume_from, resume_command: str) -> TrainingError:
    """End the MLflow run and build the one line that says what happened and how to continue."""
    if isinstance(err, TrainingError):  # already worded (diverged): the tag is set
        client.set_terminated(run_id, status="FAILED")
        return err
    checkpoint = latest_checkpoint(run_dir) or resume_from
    hint = failure.continue_hint(checkpoint_step(checkpoint), resume_command)
    interrupted = isinstance(err, KeyboardInterrupt)
    message = f"training {'interrupted' if interrupted else 'failed: ' + failure.describe(err)}. {hint}"
    client.set_tag(run_id, tracking.ERROR_TAG, message[:5000])
    client.set_terminated(run_id, status="KILLED" if interrupted else "FAILED")
    return TrainingError(message)


def _outcome(result, spec, run_id: str, tracking_uri: str, client: MlflowClient) -> TrainOutcome:
    checkpoint = result.checkpoint.path if result.checkpoint else None
    # Ray keeps only metrics reported with a checkpoint, so rank 0 records divergence on the run.
    error = client.get_run(run_id).data.tags.get(tracking.ERROR_TAG)
    if error:
        raise TrainingError(f"{error} Last good checkpoint: {checkpoint or 'none yet'}; "
                            f"resume with --resume {run_id} after changing the spec.")
    stopped = client.get_run(run_id).data.tags.get("ganforge.stopped_by")  # train.stop_on (train/monitors)
    if stopped:
        say(f"stopped early: the {stopped} alarm is in train.stop_on; the registered model is the best evaluated one")
    client.set_terminated(run_id, status="FINISHED")
    return TrainOutcome(run_id, tracking_uri, checkpoint, dict(result.metrics or {}),
                        spec.tracking.registered_model, _registered_version(client, run_id, spec))


def _registered_version(client: MlflowClient, run_id: str, spec: ExperimentSpec) -> str | None:
    """The registry version this run's generator became (None when not registered)."""
    name = spec.tracking.registered_model
    if not name:
        return None
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return max((v.version for v in versions), key=int, default=None)
