"""``ganforge evaluate`` as a user types it: checkpoint dir and registered model, real MLflow store."""
from __future__ import annotations

import mlflow
import pytest
from typer.testing import CliRunner

from ganforge.cli import _register_commands, app
from ganforge.config import ExperimentSpec
from ganforge.models import build_models
from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

pytestmark = pytest.mark.integration

_register_commands()
ARGS = ["--metrics", "fid,kid,is", "--n", "200", "--option", "kid_subsets=10", "--option", "kid_subset_size=100"]


@pytest.fixture
def checkpoint(tmp_path, monkeypatch, mlflow_uri):
    """An untrained 32 px DCGAN generator saved as ganforge saves one, and a private cache."""
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    spec = ExperimentSpec(name="tiny", data={"name": "digits"}, model={"name": "dcgan", "z_dim": 16})
    generator, _ = build_models(spec.model, (1, 32, 32), 0)
    meta = {"img_shape": [1, 32, 32], "num_classes": 0}
    return atomic_save(generator_state(generator, spec.to_dict(), meta, step=42), tmp_path / "ckpt" / GENERATOR_FILE).parent


def all_runs():
    client = mlflow.tracking.MlflowClient()
    return client, client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_checkpoint_dir_gets_a_new_evaluation_run(checkpoint):
    result = CliRunner().invoke(app, ["evaluate", str(checkpoint), *ARGS])
    assert result.exit_code == 0, result.output
    assert "extractor: domain:digits" in result.output
    for key in ("fid", "kid_mean", "kid_std", "is_mean", "is_std"):  # the keys name the digits classifier
        assert f"\ndomain-digits.{key} " in result.output
    client, runs = all_runs()
    (run,) = runs
    assert run.data.tags["ganforge.evaluation_of"] == str(checkpoint)
    assert run.data.tags["ganforge.eval.domain-digits.extractor"].startswith("domain:digits@")
    assert {"eval.domain-digits.fid", "eval.domain-digits.is_mean"} <= set(run.data.metrics)
    history = client.get_metric_history(run.info.run_id, "eval.domain-digits.fid")
    assert [m.step for m in history] == [42]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "extractors")]


def test_registered_model_logs_into_its_own_run(checkpoint):
    from ganforge.tracking import log_generator

    client = mlflow.tracking.MlflowClient()
    experiment = client.create_experiment("ganforge")
    source_run = client.create_run(experiment).info.run_id
    log_generator(source_run, mlflow.get_tracking_uri(), checkpoint / GENERATOR_FILE, registered_name="tiny-eval")
    # `latest` as MLflow users write it: the highest version (once "must be an integer, got 'latest'")
    result = CliRunner().invoke(app, ["evaluate", "models:/tiny-eval/latest", *ARGS, "--extractor", "domain:digits"])
    assert result.exit_code == 0, result.output
    _, runs = all_runs()
    assert [r.info.run_id for r in runs] == [source_run]
    assert "eval.domain-digits.kid_mean" in client.get_run(source_run).data.metrics


def test_inception_score_without_its_weights_fails_before_logging(checkpoint):
    result = CliRunner().invoke(app, ["evaluate", str(checkpoint), "--metrics", "is", "--extractor", "inception"])
    assert result.exit_code == 2
    assert "GANFORGE_INCEPTION_WEIGHTS" in result.output
    assert all_runs()[1] == []


@pytest.mark.parametrize("source,message", [
    ("models:/nope/latest", "no registered model 'nope'"),
    ("models:/nope@champion", "no registered model 'nope'"),
    ("no/such/dir", "neither an existing checkpoint path"),
])
def test_a_source_that_does_not_resolve_exits_2_before_any_run(mlflow_uri, source, message):
    mlflow.tracking.MlflowClient().search_experiments()  # the store exists; the model does not
    result = CliRunner().invoke(app, ["evaluate", source, *ARGS])
    assert result.exit_code == 2, result.output
    assert message in result.output and "models:/name/latest" in result.output
    assert "Traceback" not in result.output and result.output.count("\n") == 1
    assert all_runs()[1] == []
