"""Logging a generator as an MLflow pyfunc model and loading it back."""
from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_spectral_norm_generator_logs_registers_and_predicts(mlflow_uri, tmp_path):
    """Spectral-norm parametrized modules refuse to pickle: the pyfunc must carry only the weights file."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.tracking import log_generator
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    spec = ExperimentSpec(data={"name": "digits", "resolution": 16},
                          model={"name": "dcgan", "z_dim": 8, "options": {"ngf": 4, "ndf": 4, "spectral_norm_g": True}})
    generator, _ = build_models(spec.model, (1, 16, 16), 0)
    path = atomic_save(generator_state(generator, spec.to_dict(), {"img_shape": [1, 16, 16], "num_classes": 0}, 1),
                       tmp_path / GENERATOR_FILE)
    client = MlflowClient(mlflow_uri)
    run_id = client.create_run(client.create_experiment("sn")).info.run_id
    log_generator(run_id, mlflow_uri, path, z_dim=8, registered_name="sn-g")
    model = mlflow.pyfunc.load_model("models:/sn-g/1")
    images = model.predict(np.zeros((3, 8), dtype=np.float32))
    assert images.shape == (3, 1, 16, 16) and np.abs(images).max() <= 1
