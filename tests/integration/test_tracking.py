"""Logging a generator as an MLflow pyfunc model (from code, nothing pickled) and loading it back."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


def test_spectral_norm_generator_logs_from_code_registers_and_predicts(mlflow_uri, tmp_path):
    """Spectral-norm parametrized modules refuse to pickle: the model is its code file plus the
    weights file, and MLflow pickles no Python object."""
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
    info = log_generator(run_id, mlflow_uri, path, registered_name="sn-g")
    # Logging the model leaves the run RUNNING: only its owner (driver, Tune trial) ends it. A
    # FINISHED here let an interrupted search take a trial still closing for a finished one.
    assert client.get_run(run_id).info.status == "RUNNING"
    local = mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "downloaded"))
    files = {p.relative_to(local).as_posix() for p in Path(local).rglob("*") if p.is_file()}
    assert {"pyfunc_model.py", f"artifacts/{GENERATOR_FILE}"} <= files
    assert not [f for f in files if f.endswith(".pkl")], files
    model = mlflow.pyfunc.load_model("models:/sn-g/1")
    assert model.loader_module == "mlflow.pyfunc.loaders.code_model"
    images = model.predict(pd.DataFrame({"z": [[0.0] * 8] * 3}))
    assert images.shape == (3, 1, 16, 16) and abs(images).max() <= 1
