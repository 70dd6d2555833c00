"""MLflow tracking: where runs go, what a training run records, and the logged generator model.

The driver creates the run (params = the flattened spec) before Ray Train starts, and ends it
after; rank 0 of the workers logs into that run by id with ``MlflowClient`` (metrics, sample
grids, the final checkpoint, the generator model). A restarted worker logs into the same run,
so a recovered or resumed run keeps one continuous step axis.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
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


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc wrapper: input latents [n, z_dim] -> images [n, C, H, W] in [-1, 1].

    The weights live in the model's ``generator.pt`` artifact (spec + state dict); the module
    is rebuilt from the spec on load, never unpickled.
    """

    def __getstate__(self):
        # MLflow calls load_context/predict on the input example before pickling this object:
        # the loaded generator must not be pickled with it (the weights are the artifact, and
        # spectral-norm parametrized modules refuse to pickle).
        return {key: value for key, value in self.__dict__.items() if key != "generator"}

    def load_context(self, context):
        from ganforge.sampling import generator_from_payload
        from ganforge.train.checkpoint import load_checkpoint

        self.generator = generator_from_payload(load_checkpoint(context.artifacts["generator"]))

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        # The np.ndarray hint: MLflow takes the signature from input_example (it infers none from
        # this type) and stops warning on every import that predict has no type hints.
        import torch

        z = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            return self.generator(z).numpy()


def log_generator(run_id: str, tracking_uri: str, generator_file: str | Path, z_dim: int,
                  registered_name: str | None) -> Any:
    """Log ``generator.pt`` as an MLflow pyfunc model in ``run_id``; register it if named."""
    mlflow.set_tracking_uri(tracking_uri)
    example = np.random.default_rng(0).standard_normal((2, z_dim)).astype(np.float32)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME, python_model=GeneratorModel(), artifacts={"generator": str(generator_file)},
            input_example=example, registered_model_name=registered_name,
            # Explicit requirements: inferring them costs 6-11 s per log (STACK-NOTES).
            pip_requirements=[f"ganforge=={__version__}", "torch==2.14.1", "numpy"],
        )
    # Leaving the `with` marked the run FINISHED; the driver sets the final status.
    return info
