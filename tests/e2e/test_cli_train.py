"""The CLI as a user types it: ganforge train on the quickstart spec, then what MLflow holds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
GANFORGE = [sys.executable, "-m", "ganforge.cli"]


def run_cli(args, cwd, env_extra=None, timeout=600):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(GANFORGE + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_quickstart_through_the_cli(ray_session, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_cli(["train", str(REPO / "jobs/quickstart.yaml"), "--set", "train.steps=40",
                      "--set", "train.sample_every=20", "--set", "train.checkpoint_every=20",
                      "--set", "tracking.registered_model=e2e-dcgan", "--set", f"scaling.storage_path={tmp_path / 'ray'}"],
                     cwd=tmp_path, env_extra={"MLFLOW_TRACKING_URI": uri, "RAY_ADDRESS": ray_session})
    assert result.returncode == 0, result.stderr[-3000:]
    run_id = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("run_id:"))

    import mlflow

    client = mlflow.MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "dcgan" and run.data.params["train.steps"] == "40"
    history = client.get_metric_history(run_id, "d_loss")
    assert [m.step for m in history] == [25, 40]
    assert "images_per_s" in run.data.metrics
    samples = [a.path for a in client.list_artifacts(run_id, "samples")]
    assert "samples/samples_step0000020.png" in samples and "samples/samples_step0000040.png" in samples
    from PIL import Image

    grid = Image.open(client.download_artifacts(run_id, "samples/samples_step0000040.png"))
    assert grid.size[0] > 32 * 7  # 64 images of 32 px in an 8x8 grid (with padding)
    assert [a.path for a in client.list_artifacts(run_id, "checkpoint")] == ["checkpoint/checkpoint.pt"]
    [version] = client.search_model_versions("name = 'e2e-dcgan'")  # one version, from this run
    assert str(version.version) == "1" and version.run_id == run_id

    mlflow.set_tracking_uri(uri)
    from ganforge.sampling import load_generator, sample_images

    loaded = load_generator("models:/e2e-dcgan/1")
    images = sample_images(loaded.generator, 4, seed=1)
    assert images.shape == (4, 1, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert loaded.run_id == run_id and str(loaded.info["version"]) == "1"
    pyfunc = mlflow.pyfunc.load_model("models:/e2e-dcgan/1")
    import pandas as pd

    assert pyfunc.predict(pd.DataFrame({"z": [[0.0] * 64] * 2})).shape == (2, 1, 32, 32)


def test_catalog_commands_list_registries(tmp_path):
    models = run_cli(["models"], cwd=tmp_path)
    assert models.returncode == 0 and "dcgan" in models.stdout and "cgan" in models.stdout
    datasets = run_cli(["datasets"], cwd=tmp_path)
    assert datasets.returncode == 0 and all(n in datasets.stdout for n in ("digits", "folder", "fashion-mnist"))


def test_bad_spec_is_a_clean_error(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("train: {stepz: 3}\n")
    result = run_cli(["train", str(spec)], cwd=tmp_path)
    assert result.returncode == 2
    assert "train.stepz" in result.stderr and "valid keys" in result.stderr and "Traceback" not in result.stderr
    result = run_cli(["train", str(REPO / "jobs/quickstart.yaml"), "--set", "data.name=digitz"], cwd=tmp_path)
    assert result.returncode == 2 and "digits" in result.stderr
