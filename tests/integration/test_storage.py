"""Checkpoints on any storage Ray takes: a ``file://`` storage_path end to end (train, resume by
directory and by run id, tune), and a ``--resume`` directory staged into the run's storage so
every worker reads it from there, not from the driver's disk."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ganforge.config import spec_from_dict
from ganforge.train.driver import run_training
from ganforge.train.storage import STAGED_DIR, read_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TINY = {"data": {"name": "digits", "resolution": 16, "limit": 256},
        "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
        "train": {"steps": 10, "batch_size": 32, "log_every": 5, "sample_every": 0, "checkpoint_every": 5,
                  "grid_size": 4, "torch_threads": 1},
        "tracking": {"experiment": "storage", "registered_model": None}}


def _spec(storage: str, **train):
    document = {"name": "storage", **TINY, "scaling": {"storage_path": storage}}
    document["train"] = {**TINY["train"], **train}
    return spec_from_dict(document)


def test_file_uri_storage_train_and_resume(ray_session, mlflow_uri, tmp_path):
    storage = f"file://{tmp_path / 'store'}"
    first = run_training(_spec(storage))
    client = MlflowClient(mlflow_uri)
    assert client.get_run(first.run_id).data.tags["ganforge.checkpoint_root"].startswith(storage)
    mine = tmp_path / "mine"  # the user's own copy of a checkpoint, on the driver's disk
    shutil.copytree(first.checkpoint_path, mine)

    by_dir = run_training(_spec(storage, steps=15), resume=str(mine))
    tags = client.get_run(by_dir.run_id).data.tags
    assert tags["ganforge.restored_from_step"] == "10"
    assert tags["ganforge.restored_from"].startswith(storage) and tags["ganforge.restored_from"].endswith(STAGED_DIR)

    by_run = run_training(_spec(storage, steps=15), resume=first.run_id)
    tags = client.get_run(by_run.run_id).data.tags
    assert by_run.run_id == first.run_id and tags["ganforge.restored_from_step"] == "10"
    assert client.get_run(first.run_id).info.status == "FINISHED"
    assert max(m.step for m in client.get_metric_history(first.run_id, "d_loss")) == 15


def test_file_uri_storage_tune(ray_session, mlflow_uri, tmp_path):
    from ganforge.tune.search import pointer_file, run_search

    storage = f"file://{tmp_path / 'store'}"
    document = {"name": "storage-tune", **TINY, "scaling": {"storage_path": storage},
                "search": {"space": {"optim.g.lr": "grid(1e-4, 2e-4)"}, "metric": "g_loss", "mode": "min",
                           "scheduler": {"name": "none"}, "num_samples": 1}}
    spec = spec_from_dict(document)
    outcome = run_search(spec)
    assert outcome.experiment_path.startswith(storage)
    assert json.loads(read_text(pointer_file(spec)))["path"] == outcome.experiment_path
    assert len(outcome.results) == 2 and not outcome.results.errors
    for result in outcome.results:
        assert result.checkpoint is not None and Path(result.checkpoint.path).is_relative_to(tmp_path / "store")
