"""*_best metrics survive --resume and failure recovery: seeded from the run's history."""
from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from ganforge.train.reporter import seeded_best

pytestmark = pytest.mark.unit


def test_best_is_seeded_from_history_up_to_the_restored_step(mlflow_uri):
    client = MlflowClient(mlflow_uri)
    run_id = client.create_run(client.create_experiment("best")).info.run_id
    for step, value in ((10, 5.0), (20, 4.0), (30, 3.0)):  # step 30 was trained after the checkpoint
        client.log_metric(run_id, "fid_best", value, step=step)
        client.log_metric(run_id, "fid", value, step=step)
    tracker = seeded_best(client, run_id, 20)
    assert tracker.best == {"fid": 4.0}
    assert tracker.update({"fid": 4.5}) == {"fid_best": 4.0}  # a worse value keeps the seeded best
    assert seeded_best(client, run_id, 0).best == {}


def test_paired_metrics_have_bests_in_their_direction_and_baselines_none():
    from ganforge.metrics import BestTracker

    best = BestTracker()
    best.update({"psnr_y": 20.0, "l1": 0.5, "baseline.psnr_y": 18.0})
    assert best.update({"psnr_y": 19.0, "l1": 0.4, "baseline.psnr_y": 18.0}) == {"psnr_y_best": 20.0, "l1_best": 0.4}
