"""ADA and the monitors through Ray Train as ``ganforge train`` runs them: p and r_t logged, the
monitors' metrics logged, an alarm listed in ``train.stop_on`` stops the run cleanly at its step
(checkpoint there, run FINISHED), and the registered model is the best evaluated generator, with
tags saying which step."""
from __future__ import annotations

import pytest

from ganforge.config import spec_from_dict
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.driver import run_training

pytestmark = pytest.mark.integration


def test_ada_and_a_stop_on_alarm_through_ray_train(ray_session, mlflow_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    spec = spec_from_dict({
        "name": "monitored", "data": {"name": "digits", "resolution": 16, "limit": 64},
        "model": {"z_dim": 8, "options": {"ngf": 4, "ndf": 4}},
        "augment": {"ada": {"target": 0.6, "interval": 1, "kimg": 1}},  # p moves 16/1000 per D update
        "train": {"steps": 12, "batch_size": 16, "ema": 0.0, "log_every": 2, "sample_every": 0,
                  "checkpoint_every": 100, "torch_threads": 1, "stop_on": ["collapse"]},
        "eval": {"every": 3, "metrics": ["fid"], "n": 32, "batch_size": 32, "extractor": "domain:digits"},
        # An impossible diversity bar: the collapse alarm fires at the first evaluation alarms may use (9).
        "monitors": {"after": 7, "diversity_min": 2.0},
        "scaling": {"storage_path": str(tmp_path / "ray")},
        "tracking": {"registered_model": "monitored-g"},
    })
    outcome = run_training(spec)
    client = MlflowClient(mlflow_uri)
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    assert load_checkpoint(outcome.checkpoint_path)["step"] == 9  # stopped there, after a checkpoint
    tags = run.data.tags
    assert tags["ganforge.stopped_by"] == "collapse at step 9"
    assert tags["ganforge.alarm.collapse"].startswith("step 9: sample diversity")
    assert [(m.step, m.value) for m in client.get_metric_history(outcome.run_id, "alarm.collapse")] == [(9, 1.0)]
    fids = {m.step: m.value for m in client.get_metric_history(outcome.run_id, "domain-digits.fid")}
    best_step = min(fids, key=fids.get)
    assert sorted(fids) == [3, 6, 9] and tags["ganforge.best_step"] == tags["ganforge.registered_step"] == str(best_step)
    version = client.get_model_version("monitored-g", outcome.registered_version)
    assert version.tags["ganforge.step"] == str(best_step)
    p = [m.value for m in client.get_metric_history(outcome.run_id, "ada_p")]
    assert len(p) == 4 and p[-1] != 0.0  # logged at steps 2, 4, 6, 8; it moved
    for key in ("ada_r_t", "monitor.r_t", "monitor.d_gap", "monitor.diversity", "monitor.min_distance"):
        assert client.get_metric_history(outcome.run_id, key), key
