"""A run that fails outside the training step ends with one line: the cause, the last checkpoint's
step and the exact command that continues it (also in the run's ganforge.error tag); that command
continues it in the same MLflow run, from step 0 when no checkpoint was written yet."""
from __future__ import annotations

import os
import shlex
import signal
import time

import pytest
from mlflow.tracking import MlflowClient

from clirun import GANFORGE, Background, user_env
from conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STEPS, CHECKPOINT_EVERY = 40, 20
# Large batches make steps slow enough that a kill seen at step 5 lands before the step-20
# checkpoint, and one at step 25 before the end, on a fast machine too (the kill takes ~1-2 s).
BATCH = 512


def _kill_train_worker(gcs_address: str) -> None:
    """SIGKILL the live Ray Train worker (a worker process dying, as OOM or a lost node do)."""
    from ray.util.state import list_actors

    deadline = time.time() + 60
    while time.time() < deadline:
        workers = list_actors(address=gcs_address, filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")])
        if workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            return
        time.sleep(0.5)
    raise AssertionError("no live RayTrainWorker to kill")


def _train(tmp_path, env, args, name) -> Background:
    return Background([GANFORGE, "train", *args], tmp_path, env, name)


def _failure_line(process: Background) -> str:
    assert process.finish(timeout=300) == 1, process.stderr()[-3000:]
    [line] = [line for line in process.stderr().splitlines() if line.startswith("error: training failed")]
    return line


def test_killed_runs_say_how_to_continue_and_continue(tmp_path, ray_session):
    env = user_env(tmp_path, RAY_ADDRESS=ray_session)
    args = [str(REPO / "jobs/quickstart.yaml"), "--set", f"train.steps={STEPS}", "--set", "train.log_every=5",
            "--set", f"train.batch_size={BATCH}",
            "--set", f"train.checkpoint_every={CHECKPOINT_EVERY}", "--set", "train.sample_every=0",
            "--set", "train.max_failures=0", "--set", "tracking.registered_model=null",
            "--set", f"scaling.storage_path={tmp_path / 'ray'}"]
    first = _train(tmp_path, env, args, "first")
    first.wait_for(f"step 5/{STEPS}", timeout=240)  # before the first checkpoint
    _kill_train_worker(ray_session)
    line = _failure_line(first)
    assert "a training worker process died" in line and "No checkpoint was written yet" in line, line
    command = line.split("`")[1]
    run_id = command.split("--resume ")[1]
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["ganforge.error"] in line

    second = _train(tmp_path, env, shlex.split(command)[2:], "second")  # from step 0, same run
    second.wait_for(f"step {CHECKPOINT_EVERY + 5}/{STEPS}", timeout=240)
    _kill_train_worker(ray_session)
    line = _failure_line(second)
    assert f"Last checkpoint: step {CHECKPOINT_EVERY}. Continue with: " in line, line
    assert line.endswith(f"--resume {run_id}")

    third = _train(tmp_path, env, shlex.split(line.split("Continue with: ")[1])[2:], "third")
    assert third.finish(timeout=300) == 0, third.stderr()[-3000:]
    assert f"continuing from step {CHECKPOINT_EVERY}" in third.stderr()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["ganforge.error"] == ""
    assert max(m.step for m in client.get_metric_history(run_id, "d_loss")) == STEPS
