"""`ganforge adapt` end to end on Ray (issue 14), the one Ray Train run of the adaptation tests: a
tiny SNGAN registered in MLflow (saved in process, no training run), adapted with BSA to 8 faces
through the shared worker loop; the run records the BSA loss terms, its periodic evaluation (the
kernlab-style KMMD figures under the extractor's tag), a grid of training images | reconstructions |
new samples, and registers the adapted generator, which `ganforge evaluate` scores (KMMD, FID) and
the MLflow pyfunc serves without the source; the report's table is built from the run's history."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.integration

STEPS = 4


def register_source(tmp_path, uri: str) -> str:
    """A tiny SNGAN (BatchNorm statistics of its own samples) registered as adapt-src v1."""
    from mlflow.tracking import MlflowClient

    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.tracking import log_generator
    from ganforge.train.checkpoint import atomic_save, generator_state

    spec = ExperimentSpec(name="src", data={"name": "digits"}, model={"name": "sngan", "z_dim": 16, "options": {"g_ch": 2, "d_ch": 2}})
    torch.manual_seed(0)
    G, _ = build_models(spec.model, (1, 32, 32), 0)
    with torch.no_grad():
        G.train()(torch.randn(16, 16))  # running statistics that fit its activations
    file = atomic_save(generator_state(G, spec.to_dict(), {"img_shape": [1, 32, 32], "num_classes": 0}, 3),
                       tmp_path / "src" / "generator.pt")
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("sources")).info.run_id
    log_generator(run_id, uri, file, "adapt-src")
    return "models:/adapt-src/latest"


def test_bsa_adapts_a_registered_sngan_on_ray_and_the_result_evaluates_and_serves(ray_session, mlflow_uri, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from ganforge.cli import _register_commands, app
    from ganforge.adapt.table import TableRow, figure_keys, log_table, markdown_table, run_scores
    from ganforge.commands.adapt import checked_spec
    from ganforge.config import ExperimentSpec
    from ganforge.train.checkpoint import load_checkpoint
    from ganforge.train.driver import run_training

    source = register_source(tmp_path, mlflow_uri)
    spec = checked_spec(ExperimentSpec(
        name="bsa-faces", data={"name": "lfw-faces", "resolution": 32, "channels": 1, "limit": 8},
        adapt={"source": source, "method": "bsa"},  # perceptual: auto (VGG16 when found, else the Inception port)
        train={"steps": STEPS, "batch_size": 4, "checkpoint_every": 2, "log_every": 2, "sample_every": STEPS,
               "grid_size": 8, "torch_threads": 1},
        eval={"every": STEPS, "metrics": ["fid", "kmmd_gauss"], "extractor": "domain:digits", "n": 16,
              "options": {"kmmd_gauss_subset_size": 8, "kmmd_gauss_repeats": 2, "kmmd_gauss_ntimes": 20}},
        tracking={"registered_model": "bsa-faces-g"}, scaling={"storage_path": str(tmp_path / "ray")}))
    assert spec.adapt.source == "models:/adapt-src/1"  # pinned before Ray
    outcome = run_training(spec)

    payload = load_checkpoint(outcome.checkpoint_path)
    assert payload["step"] == STEPS and payload["meta"]["images"] == 8
    assert payload["meta"]["source"]["spec"]["model"]["name"] == "sngan"
    client = MlflowClient(mlflow_uri)
    metrics = client.get_run(outcome.run_id).data.metrics
    assert {"g_loss", "g_l1", "g_perceptual", "g_emd", "g_reg"} <= set(metrics)
    scores = run_scores(client, outcome.run_id, (STEPS,), tag="domain-digits")  # what the study's table reads
    assert set(scores[STEPS]) == set(figure_keys("domain-digits"))  # FID and every KMMD figure
    assert 0.0 <= scores[STEPS]["domain-digits.kmmd_gauss_accept_rate"] <= 1.0
    rows = [TableRow("sngan", "bsa", scores)]
    log_table(client, outcome.run_id, "lfw-faces", rows, (STEPS,), tag="domain-digits")
    tables = client.download_artifacts(outcome.run_id, "adapt_tables", str(tmp_path / "tables"))
    assert open(f"{tables}/lfw-faces.md").read() == markdown_table("lfw-faces", rows, (STEPS,), tag="domain-digits")
    # one row of training images, one of their reconstructions, one of new samples (2 px padding)
    grid = np.asarray(Image.open(client.download_artifacts(outcome.run_id, f"samples/samples_step{STEPS:07d}.png", str(tmp_path))))
    assert grid.shape[:2] == (3 * 34 + 2, 8 * 34 + 2)
    assert outcome.registered_version == 1

    if not app.registered_commands:
        _register_commands()
    evaluated = CliRunner().invoke(app, ["evaluate", "models:/bsa-faces-g/1", "--metrics", "kmmd_gauss,fid", "--n", "16",
                                         "--extractor", "domain:digits", "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    values = dict(re.findall(r"^(\S+)\s+(-?[\d.e+-]+)$", evaluated.output, re.M))
    assert {"domain-digits.kmmd_gauss_accept_rate", "domain-digits.kmmd_gauss_mmd1_median",
            "domain-digits.kmmd_gauss_mmd3_mean", "domain-digits.fid"} <= set(values)

    model = mlflow.pyfunc.load_model("models:/bsa-faces-g/1")
    z = np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32)
    images = np.asarray(model.predict(pd.DataFrame({"z": list(z)})))
    assert images.shape == (2, 1, 32, 32) and np.abs(images).max() <= 1
