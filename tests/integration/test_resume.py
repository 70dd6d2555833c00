"""Exact resume through Ray and MLflow: stopped at step k and resumed with --resume, a run ends bit for
bit where the uninterrupted run ends (the in-process cases are tests/unit/test_resume_exact.py).
The resumed run keeps its checkpoints on a ``file://`` storage URI, and a ``--resume`` directory
on the driver's disk is staged into the new run's storage, where its workers read it."""
from __future__ import annotations

import shutil

import pytest

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import load_checkpoint
from ganforge.train.driver import TrainingError, run_training
from ganforge.train.storage import STAGED_DIR
from statecompare import differences

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def spec(steps: int, storage) -> ExperimentSpec:
    return ExperimentSpec(
        name="resume", data={"name": "digits", "resolution": 16, "limit": 96},
        model={"z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
        augment={"preset": "blur+flip", "diffaugment": "translation"},
        train={"steps": steps, "batch_size": 16, "checkpoint_every": 4, "log_every": 2, "sample_every": 0,
               "ema": 0.9, "torch_threads": 1},
        scaling={"storage_path": str(storage)},
    )


def test_resumed_run_equals_uninterrupted(ray_session, mlflow_uri, tmp_path):
    # 96 images / batch 16 = 6 batches per epoch: the stop at step 8 is mid-epoch.
    storage = f"file://{tmp_path / 'b'}"
    full = run_training(spec(12, tmp_path / "a"))
    first = run_training(spec(8, storage))
    resumed = run_training(spec(12, storage), resume=first.run_id)
    assert resumed.run_id == first.run_id  # the same MLflow run continues
    a, b = load_checkpoint(full.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    assert a["step"] == b["step"] == 12
    # Bit for bit (torch.equal): weights, EMA, both optimizers' moments, both schedules, torch's RNG.
    parts = ("G", "D", "G_ema", "opt_g", "opt_d", "sched_g", "sched_d", "rng")
    assert not differences({p: a[p] for p in parts}, {p: b[p] for p in parts})
    import mlflow

    client = mlflow.MlflowClient(mlflow_uri)
    history = client.get_metric_history(first.run_id, "d_loss")
    assert sorted({m.step for m in history}) == [2, 4, 6, 8, 10, 12]  # one continuous step axis
    assert client.get_run(first.run_id).data.tags["ganforge.checkpoint_root"].startswith(storage)
    # Resuming the finished run with the same step budget: nothing to train, a clear error.
    with pytest.raises(TrainingError, match=r"already at step 12, and train.steps=12; nothing to train.*--set train.steps=24"):
        run_training(spec(12, storage), resume=first.run_id)

    mine = tmp_path / "mine"  # the user's own copy of a checkpoint, on the driver's disk only
    shutil.copytree(resumed.checkpoint_path, mine)
    by_dir = run_training(spec(14, storage), resume=str(mine))
    tags = client.get_run(by_dir.run_id).data.tags
    assert tags["ganforge.restored_from_step"] == "12"
    assert tags["ganforge.restored_from"] == f"{tags['ganforge.checkpoint_root']}/{STAGED_DIR}"
