"""MLflow tracking: where runs go, what a training run records, and the logged generator model.

The driver creates the run (params = the flattened spec) before Ray Train starts, and ends it
after; rank 0 of the workers logs into that run by id with ``MlflowClient`` (metrics, sample
grids, the final checkpoint, the generator model). A restarted worker logs into the same run,
so a recovered or resumed run keeps one continuous step axis.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from ganforge import __version__
from ganforge.config import ExperimentSpec
from ganforge.documents import flatten

CHECKPOINT_TAG = "ganforge.checkpoint_root"
ERROR_TAG = "ganforge.error"  # set by rank 0 when training stops on a non-finite loss
MODEL_NAME = "generator"  # name of the logged model inside a run (runs:/<id>/generator)


def resolve_tracking_uri(spec: ExperimentSpec | None = None) -> str:
    """The spec's URI, else MLFLOW_TRACKING_URI, else sqlite:///<cwd>/mlflow.db (absolute, so
    Ray workers in other directories write to the same store)."""
    if spec is not None and spec.tracking.tracking_uri:
        return spec.tracking.tracking_uri
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def create_run(spec: ExperimentSpec, tracking_uri: str, tags: dict[str, str] | None = None) -> str:
    """Create the MLflow run for a training run; log the spec as params. Returns its id."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(spec.tracking.experiment)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(spec.tracking.experiment)
    run = client.create_run(experiment_id, run_name=spec.tracking.run_name or spec.name,
                            tags={"ganforge.version": __version__, **(tags or {})})
    params = [mlflow.entities.Param(k, str(v)[:6000]) for k, v in flatten(spec.to_dict()).items()]
    for start in range(0, len(params), 100):  # MLflow caps a batch at 100 params
        client.log_batch(run.info.run_id, params=params[start : start + 100])
    return run.info.run_id


def log_metrics(client: MlflowClient, run_id: str, metrics: dict[str, float], step: int) -> None:
    """Log a dict of floats at ``step`` in one request."""
    now = mlflow.utils.time.get_current_time_millis()
    batch = [Metric(key, float(value), now, step) for key, value in metrics.items()]
    client.log_batch(run_id, metrics=batch)


def log_image_grid(client: MlflowClient, run_id: str, images, step: int, nrow: int | None = None) -> str:
    """Save images in [-1, 1] as one PNG grid under samples/ of the run; returns its name."""
    import torchvision.utils as vutils

    name = f"samples_step{step:07d}.png"
    nrow = nrow or max(1, int(len(images) ** 0.5))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        vutils.save_image(images.float().cpu(), path, nrow=nrow, normalize=True, value_range=(-1, 1))
        client.log_artifact(run_id, str(path), "samples")
    return f"samples/{name}"


def log_generator(run_id: str, tracking_uri: str, generator_file: str | Path,
                  registered_name: str | None, version_tags: dict[str, str] | None = None) -> Any:
    """Log ``generator_file`` (a ``generator.pt``) as an MLflow pyfunc model in ``run_id``;
    register it if named.

    The model is logged from code (``pyfunc_model.py``), so nothing is pickled; its signature,
    input example and metadata come from the generator the file describes, by its task: latents of
    its own z_dim, class labels and codes where it takes them, or an image batch of its input shape
    for a paired model (see ``ganforge.pyfunc``).
    """
    from ganforge import pyfunc
    from ganforge.sampling import generator_from_payload
    from ganforge.train.checkpoint import load_checkpoint

    generator = generator_from_payload(load_checkpoint(generator_file))
    task_io = pyfunc.io_of(generator)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.start_run(run_id=run_id)
    try:
        with warnings.catch_warnings():
            # MLflow 3.17 compares a DataFrame example's columns with a range(), which pandas 3 warns of.
            warnings.filterwarnings("ignore", message="Operation with range is deprecated")
            info = mlflow.pyfunc.log_model(
                name=MODEL_NAME, python_model=pyfunc.MODEL_CODE,
                artifacts={"generator": str(generator_file)}, signature=task_io.signature(generator),
                input_example=task_io.input_example(generator), metadata=task_io.describe(generator),
                registered_model_name=registered_name,
                # Explicit requirements: inferring them costs 6-11 s per log (STACK-NOTES).
                pip_requirements=[f"ganforge=={__version__}", "torch==2.14.1", "numpy", "pandas"],
            )
        if registered_name and version_tags and info.registered_model_version:  # e.g. the step it is from
            client = MlflowClient(tracking_uri)
            for key, value in version_tags.items():
                client.set_model_version_tag(registered_name, str(info.registered_model_version), key, value)
    finally:
        # The run stays RUNNING: its owner (the train driver, a Tune trial) sets the final status.
        # Leaving `with start_run` marked it FINISHED while Train was still closing the run, and a
        # search interrupted then resumed that "finished" trial by training it again.
        mlflow.end_run(status="RUNNING")
    return info
