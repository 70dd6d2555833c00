"""Runs side by side on one machine (issue: a training died as a search started): a training,
then a `ray start --head` cluster and a Tune search while it runs. Both finish; the training's
run is FINISHED at its last step; the console shows ganforge's lines only; the user's cluster
gets Ray's fixed ports (ganforge's own instances leave them free)."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml
from mlflow.tracking import MlflowClient

from clirun import GANFORGE, Background, user_env
from conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEPS = 200
NOISE = ("RayTrainWorker", "Failed to query", "Traceback", "PlacementGroupCleaner", "Token authentication")


def _tiny_search(tmp_path: Path) -> Path:
    document = yaml.safe_load((REPO / "jobs/tune/quickstart.yaml").read_text())
    document["data"].update(resolution=16, limit=256)
    document["model"]["options"] = {"ngf": 8, "ndf": 8}
    document["train"].update(steps=10, checkpoint_every=10, log_every=10, batch_size=32)
    document["eval"].update(every=10, n=64, batch_size=64)
    document["search"].update(num_samples=1, truncation=[1.0])
    document["scaling"] = {"storage_path": str(tmp_path / "ray")}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _user_cluster(tmp_path: Path) -> Background:
    """`ray start --head --block` with Ray's default dashboard and agent ports, as a user types it."""
    ray_cli = str(Path(sys.executable).with_name("ray"))
    cluster = Background([ray_cli, "start", "--head", "--port", "6391", "--num-cpus", "1", "--block"],
                         tmp_path, user_env(tmp_path), "ray-start")
    deadline = time.time() + 120
    while time.time() < deadline and not (_listening(8265) and _listening(52365)):
        assert cluster.process.poll() is None, cluster.stderr()[-3000:]
        time.sleep(1)
    return cluster


def test_training_survives_a_search_and_a_user_cluster(tmp_path):
    assert not _listening(8265) and not _listening(52365), "Ray's default ports are taken before the test"
    env = user_env(tmp_path)
    train = Background([GANFORGE, "train", str(REPO / "jobs/quickstart.yaml"), "--set", f"train.steps={STEPS}",
                        "--set", "train.log_every=10", "--set", "train.checkpoint_every=100",
                        "--set", "train.sample_every=0", "--set", f"scaling.storage_path={tmp_path / 'ray'}"],
                       tmp_path, env, "train")
    cluster = search = None
    try:
        train.wait_for(f"step 10/{STEPS}", timeout=240)
        # ganforge's instance left the fixed ports free: the user's head takes them, agent included.
        cluster = _user_cluster(tmp_path)
        assert _listening(52365), "the user's dashboard agent could not take its default port"
        search = Background([GANFORGE, "tune", str(_tiny_search(tmp_path))], tmp_path, env, "tune")
        assert train.finish(timeout=900) == 0, train.stderr()[-3000:]
        assert search.finish(timeout=900) == 0, search.stderr()[-3000:]
    finally:
        for process in (train, search, cluster):
            if process is not None:
                process.stop()
    run_id = next(line.split()[1] for line in train.stdout().splitlines() if line.startswith("run_id:"))
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and not run.data.tags.get("ganforge.error")
    assert max(m.step for m in client.get_metric_history(run_id, "d_loss")) == STEPS
    console = train.stderr()
    assert not [word for word in NOISE if word in console], console[-3000:]
    assert f"step {STEPS}/{STEPS}" in console and "library logs:" in console
    assert "ganforge serve models:/quickstart-dcgan/" in train.stdout()
