"""The driver side of ``ganforge train``: Ray, the MLflow run, the TorchTrainer, the outcome."""
from __future__ import annotations

import os
import sys
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
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.loop import train_loop_per_worker


class TrainingError(RuntimeError):
    """Training did not complete; the message says why and where the last good state is."""


@dataclass
class TrainOutcome:
    """What a finished training run produced."""

    run_id: str
    tracking_uri: str
    checkpoint_path: str | None
    metrics: dict
    registered_model: str | None


def say(message: str) -> None:
    """Driver status line (start-up can take tens of seconds on small machines)."""
    print(f"[ganforge] {message}", file=sys.stderr, flush=True)


def ensure_ray(address: str | None) -> bool:
    """Connect to ``address`` (or RAY_ADDRESS), or start a local instance. True if we started it."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    say(f"connecting to the Ray cluster at {address}" if address else "starting a local Ray instance (about 5 s)")
    # "local" forces a new instance: a bare ray.init() would join any cluster `ray start` left here.
    ray.init(address=address or "local", include_dashboard=False if not address else None, log_to_driver=True)
    return not address


def storage_root(spec: ExperimentSpec) -> str:
    """Where Ray Train keeps checkpoints: the spec's storage, else Ray's default ~/ray_results."""
    path = spec.scaling.storage_path or "~/ray_results"
    if "://" in path:  # s3://, gs://, ... (shared storage for multi-node runs)
        return path
    return os.path.abspath(os.path.expanduser(path))


def latest_ray_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint_* directory of a Ray Train run directory (names sort by time)."""
    candidates = sorted(p for p in Path(run_dir).glob("checkpoint_*") if (p / "checkpoint.pt").is_file())
    return candidates[-1] if candidates else None


def run_checkpoint(run) -> Path | None:
    """The newest Ray Train checkpoint of an MLflow run (its ``CHECKPOINT_TAG`` directory), if any."""
    ray_dir = run.data.tags.get(tracking.CHECKPOINT_TAG)
    return latest_ray_checkpoint(ray_dir) if ray_dir else None


def resolve_resume(resume: str, tracking_uri: str) -> tuple[str, str | None]:
    """(checkpoint location, MLflow run id to continue) for ``--resume`` (a path or a run id)."""
    if Path(resume).exists():
        return resume, None
    client = MlflowClient(tracking_uri)
    try:
        run = client.get_run(resume)
    except Exception:
        raise TrainingError(f"--resume {resume!r}: no such checkpoint path, and no MLflow run with that id "
                            f"in {tracking_uri}") from None
    latest = run_checkpoint(run)
    if latest is not None:
        return str(latest), resume
    import mlflow

    try:
        local = mlflow.artifacts.download_artifacts(run_id=resume, artifact_path="checkpoint", tracking_uri=tracking_uri)
    except Exception:
        raise TrainingError(f"run {resume} has no checkpoint: none under {run.data.tags.get(tracking.CHECKPOINT_TAG)} "
                            "and no 'checkpoint' artifact") from None
    return local, resume


def _check_steps_left(resume_from: str, spec: ExperimentSpec) -> None:
    """Refuse a resume with nothing to train (it would only log and register the same model again)."""
    step = int(load_checkpoint(resume_from, mmap=True).get("step", 0))  # the workers load the weights
    if step >= spec.train.steps:
        raise TrainingError(f"--resume {resume_from}: already at step {step}, and train.steps={spec.train.steps}; "
                            f"nothing to train. To train on, raise it: --set train.steps={step + spec.train.steps}")


def _use_gpu(spec: ExperimentSpec) -> bool:
    if spec.scaling.use_gpu == "auto":
        return ray.cluster_resources().get("GPU", 0) >= 1
    return bool(spec.scaling.use_gpu)


def build_trainer(spec: ExperimentSpec, loop_config: dict, run_name: str, callbacks: list | None = None) -> TorchTrainer:
    """The TorchTrainer for ``spec`` (also used by tune's per-trial driver, with its callbacks)."""
    use_gpu = _use_gpu(spec)
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


def run_training(spec: ExperimentSpec, address: str | None = None, resume: str | None = None) -> TrainOutcome:
    """Train ``spec`` on Ray Train and record it in MLflow; raises TrainingError on failure."""
    tracking_uri = tracking.resolve_tracking_uri(spec)
    resume_from, run_id = resolve_resume(resume, tracking_uri) if resume else (None, None)
    if resume_from:
        _check_steps_left(resume_from, spec)
    started_ray = ensure_ray(address)
    client = MlflowClient(tracking_uri)
    try:
        if run_id is None:
            run_id = tracking.create_run(spec, tracking_uri, tags={"ganforge.resumed_from": resume_from or ""})
        else:
            client.update_run(run_id, status="RUNNING")
        run_name = unique_run_name(spec)
        client.set_tag(run_id, tracking.CHECKPOINT_TAG, os.path.join(storage_root(spec), run_name))
        client.set_tag(run_id, tracking.ERROR_TAG, "")  # a resumed run starts without its old error
        say(f"MLflow run {run_id} ({tracking_uri}); starting {spec.scaling.workers} worker(s)")
        config = {"spec": spec.to_dict(), "run_id": run_id, "tracking_uri": tracking_uri, "resume_from": resume_from}
        result = build_trainer(spec, config, run_name).fit()
        return _outcome(result, spec, run_id, tracking_uri, client)
    except BaseException as err:
        client.set_terminated(run_id, status="KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED") if run_id else None
        if isinstance(err, (TrainingError, KeyboardInterrupt)):
            raise
        raise TrainingError(f"training failed: {err}") from err
    finally:
        if started_ray:
            ray.shutdown()


def _outcome(result, spec, run_id: str, tracking_uri: str, client: MlflowClient) -> TrainOutcome:
    metrics = dict(result.metrics or {})
    checkpoint = result.checkpoint.path if result.checkpoint else None
    # Ray keeps only metrics reported with a checkpoint, so rank 0 records divergence on the run.
    error = client.get_run(run_id).data.tags.get(tracking.ERROR_TAG)
    if error:
        raise TrainingError(f"{error} Last good checkpoint: {checkpoint or 'none yet'}; "
                            f"resume with --resume {run_id} after changing the spec.")
    client.set_terminated(run_id, status="FINISHED")
    say(f"done: run {run_id}, checkpoint {checkpoint}")
    return TrainOutcome(run_id, tracking_uri, checkpoint, metrics, spec.tracking.registered_model)
