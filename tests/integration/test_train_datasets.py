"""Short real trainings on data sets other than the quickstart's, through the one training loop."""
from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.driver import TrainingError, run_training

pytestmark = pytest.mark.integration

FASHION = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def small_spec(tmp_path, **data) -> ExperimentSpec:
    return ExperimentSpec(name="datasets", data=data, model={"z_dim": 16, "conditional": True,
                                                              "options": {"ngf": 8, "ndf": 8}},
                          train={"steps": 6, "batch_size": 16, "checkpoint_every": 3, "sample_every": 0,
                                 "torch_threads": 1},
                          scaling={"storage_path": str(tmp_path / "ray")})


def test_conditional_dcgan_trains_on_fashion_mnist(ray_session, mlflow_uri, tmp_path):
    assert FASHION.exists(), "Debian's dataset-fashion-mnist is not installed: run bash scripts/setup.sh"
    outcome = run_training(small_spec(tmp_path, name="fashion-mnist", limit=512))
    payload = load_checkpoint(outcome.checkpoint_path)
    assert payload["step"] == 6 and payload["meta"] == {"img_shape": [1, 32, 32], "num_classes": 10}


def test_empty_folder_fails_with_a_clear_error(ray_session, mlflow_uri, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="no images in .*empty"):
        run_training(small_spec(tmp_path, name="folder", root=str(tmp_path / "empty")))


def test_non_finite_loss_stops_the_run_with_a_clear_message(ray_session, mlflow_uri, tmp_path):
    document = small_spec(tmp_path, name="digits", limit=64).to_dict()
    document["model"]["options"].update(d_norm="none", g_norm="none")  # nothing to tame huge weights
    document["optim"]["g"]["lr"] = document["optim"]["d"]["lr"] = 1e30
    document["loss"] = {"name": "wgan-gp", "n_critic": 1}
    spec = ExperimentSpec(**document)
    with pytest.raises(TrainingError, match=r"non-finite g_loss at step 0.*Last good checkpoint: none yet") as err:
        run_training(spec)
    import mlflow

    runs = mlflow.search_runs(experiment_names=["ganforge"], output_format="list")
    assert runs[0].info.status == "FAILED"
    assert "non-finite g_loss" in runs[0].data.tags["ganforge.error"]
    assert "--resume" in str(err.value)
