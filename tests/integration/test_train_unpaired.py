"""CycleGAN trained through the one worker loop on Ray (issue 13), as `ganforge train` runs it: the
seconds-fast digits-inverted pair with periodic evaluation (FID both ways beside FID(A, B), cycle
L1, bests), A -> B -> A / B -> A -> B sample grids and the image pools in the checkpoint; the
registered model's pyfunc translates both ways, and `ganforge evaluate` scores it."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.driver import run_training

pytestmark = pytest.mark.integration

STEPS = 4


def test_cyclegan_trains_evaluates_logs_grids_and_registers(ray_session, mlflow_uri, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from ganforge.cli import _register_commands, app

    spec = ExperimentSpec(
        name="cyc", task="unpaired", data={"name": "digits-inverted", "resolution": 16, "limit": 64},
        model={"name": "cyclegan", "options": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2, "pool_size": 4}},
        train={"steps": STEPS, "batch_size": 8, "checkpoint_every": 2, "log_every": 2, "sample_every": STEPS,
               "grid_size": 4, "torch_threads": 1},
        eval={"every": 2, "n": 32}, tracking={"registered_model": "cyc-g"},
        scaling={"storage_path": str(tmp_path / "ray")})
    outcome = run_training(spec)
    payload = load_checkpoint(outcome.checkpoint_path)
    assert payload["step"] == STEPS and payload["meta"]["shape_a"] == payload["meta"]["shape_b"] == [1, 16, 16]
    assert payload["extras"]["pool_a"]["images"].shape == (4, 1, 16, 16)  # the pools, full, in the checkpoint
    client = MlflowClient(mlflow_uri)
    metrics = client.get_run(outcome.run_id).data.metrics
    fid = "domain-digits.fid_a2b"
    assert {"g_ab_loss", "g_ba_loss", "g_cycle_a", "g_identity_ab", "d_a_loss", "d_b_loss", fid, "baseline." + fid,
            "domain-digits.fid_b2a", "cycle_l1", f"{fid}_best", "cycle_l1_best"} <= set(metrics), sorted(metrics)
    assert [m.step for m in client.get_metric_history(outcome.run_id, "cycle_l1")] == [2, 4]
    # The grid: 4 held-out images of A (a | G_AB(a) | G_BA(G_AB(a))) then 4 of B; torchvision pads 2 px.
    grid = np.asarray(Image.open(client.download_artifacts(outcome.run_id, f"samples/samples_step{STEPS:07d}.png", str(tmp_path))))
    assert grid.shape[:2] == (8 * 18 + 2, 3 * 18 + 2)
    assert outcome.registered_version == 1

    model = mlflow.pyfunc.load_model("models:/cyc-g/1")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 16, 16)).astype(np.float32)
    a2b, b2a = model.predict(x), model.predict(x, params={"direction": "b2a"})
    assert a2b.shape == b2a.shape == (2, 1, 16, 16) and not np.allclose(a2b, b2a)  # two generators

    if not app.registered_commands:
        _register_commands()
    evaluated = CliRunner().invoke(app, ["evaluate", "models:/cyc-g/1", "--n", "16", "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    values = dict(re.findall(r"^(\S+)\s+(-?[\d.e+-]+)$", evaluated.output, re.M))
    assert {fid, "baseline." + fid, "cycle_l1"} <= set(values), evaluated.output
    assert f"eval.{fid}" in client.get_run(outcome.run_id).data.metrics
