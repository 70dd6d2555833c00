"""Paired models trained through the one worker loop on Ray (issue 12), as `ganforge train` runs
them: pix2pix on the seconds-fast silhouettes with periodic evaluation (PSNR-Y, SSIM-Y, L1, the
identity baseline and bests), sample grids of input | output | target rows, the generator
registered and scored by `ganforge evaluate`; an SRGAN whose G starts from a trained SRResNet
(model.init_from), and a bad init_from refused before Ray."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.driver import run_training

pytestmark = pytest.mark.integration

STEPS = 4


def spec(tmp_path, name: str, model: dict, data: dict, **extra) -> ExperimentSpec:
    return ExperimentSpec(name=name, data=data, model=model,
                          train={"steps": STEPS, "batch_size": 8, "checkpoint_every": 2, "log_every": 2,
                                 "sample_every": STEPS, "grid_size": 4, "torch_threads": 1},
                          tracking={"registered_model": f"{name}-g"}, scaling={"storage_path": str(tmp_path / "ray")},
                          **extra)


def test_pix2pix_trains_evaluates_logs_grids_and_registers(ray_session, mlflow_uri, tmp_path):
    from mlflow.tracking import MlflowClient
    from typer.testing import CliRunner

    from ganforge.cli import _register_commands, app

    run = spec(tmp_path, "p2p", {"name": "pix2pix", "options": {"ngf": 4, "ndf": 4}},
               {"name": "silhouettes", "resolution": 32, "limit": 64, "options": {"source": "digits"}},
               eval={"every": 2, "n": 16})
    outcome = run_training(run)
    payload = load_checkpoint(outcome.checkpoint_path)
    assert payload["step"] == STEPS and payload["meta"] == {
        "img_shape": [1, 32, 32], "input_shape": [1, 32, 32], "scale": 1, "num_classes": 0}
    client = MlflowClient(mlflow_uri)
    metrics = client.get_run(outcome.run_id).data.metrics
    assert {"d_loss", "g_loss", "g_l1", "psnr_y", "ssim_y", "l1", "baseline.psnr_y", "psnr_y_best", "l1_best"} <= set(metrics)
    assert [m.step for m in client.get_metric_history(outcome.run_id, "psnr_y")] == [2, 4]
    # The grid: one held-out pair a row, input | output | target (torchvision pads 2 px around each).
    grid = np.asarray(Image.open(client.download_artifacts(outcome.run_id, f"samples/samples_step{STEPS:07d}.png", str(tmp_path))))
    assert grid.shape[:2] == (4 * 34 + 2, 3 * 34 + 2)
    assert outcome.registered_version == 1

    if not app.registered_commands:
        _register_commands()
    evaluated = CliRunner().invoke(app, ["evaluate", "models:/p2p-g/1", "--n", "8", "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    values = dict(re.findall(r"^(\S+)\s+(-?[\d.e+-]+)$", evaluated.output, re.M))
    assert {"psnr_y", "ssim_y", "l1", "baseline.psnr_y"} <= set(values)
    assert "eval.psnr_y" in client.get_run(outcome.run_id).data.metrics


def test_srgan_starts_from_a_trained_srresnet(ray_session, mlflow_uri, tmp_path):
    from ganforge.sampling import load_generator
    from ganforge.train.preflight import PreflightError, check_training_inputs

    data = {"name": "sr", "resolution": 16, "limit": 32, "options": {"source": "digits", "scale": 2}}
    options = {"n_blocks": 1, "ngf": 8, "ndf": 8, "dense": 16}
    srresnet = run_training(spec(tmp_path, "srresnet", {"name": "srresnet", "options": options}, data))
    source = f"models:/srresnet-g/{srresnet.registered_version}"
    srgan = spec(tmp_path, "srgan", {"name": "srgan", "init_from": source, "options": options}, data,
                 loss={"weights": {"content": 0.0, "mse": 1.0}}, optim={"g": {"lr": 1e-12}})  # G stays where it started
    srgan = srgan.model_copy(update={"train": srgan.train.model_copy(update={"seed": 7})})  # another init
    check_training_inputs(srgan)
    outcome = run_training(srgan)
    started, trained = load_generator(source).generator, load_generator(outcome.run_id).generator
    trained_weights = dict(trained.named_parameters())
    for name, weight in started.named_parameters():  # (BatchNorm's running statistics did move)
        assert torch.allclose(weight, trained_weights[name], atol=1e-6), name  # SRResNet's weights, not a fresh init
    with pytest.raises(PreflightError, match=r"model.init_from: .*no-such-model"):
        check_training_inputs(srgan.model_copy(update={"model": srgan.model.model_copy(update={"init_from": "models:/no-such-model/1"})}))
