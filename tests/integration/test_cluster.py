"""A real two-node Ray cluster on 127.0.0.1: `ganforge submit` over the Jobs API (HTTP), DDP
workers on different nodes, the run and model in an `mlflow server`, and a worker killed with
SIGKILL mid-run that Ray Train replaces from the last checkpoint (one MLflow run throughout).

One cluster for the module (two nodes of 1 CPU, the head with the dashboard / Jobs API), started
with ``ray.cluster_utils.Cluster`` in its own temp dir and stopped through its own node handles:
never ``ray stop``, which would stop every Ray on the machine (the shared test Ray included).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from ganforge.commands.submit import auth_headers
from conftest import REPO, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GANFORGE = str(Path(sys.executable).with_name("ganforge"))
WORKER_CLASS = "RayTrainWorker"


@pytest.fixture(scope="module")
def two_node_cluster():
    """Head (1 CPU, dashboard on 127.0.0.1) + one worker node (1 CPU); yields the Jobs API URL."""
    from ray.cluster_utils import Cluster

    # The job's entrypoint is `ganforge ...`: the nodes (and so the job) inherit this PATH.
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{old_path}"
    temp_dir = tempfile.mkdtemp(prefix="gf-ray-", dir="/tmp")  # short: Unix socket paths cap at 107
    port = free_port()
    # Every port free, not Ray's defaults: another Ray on the machine may hold 8265 / 52365 (the
    # dashboard agent's), and a head whose agent cannot bind answers "No available agent".
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": port,
        "dashboard_agent_listen_port": free_port(), "temp_dir": temp_dir})
    try:
        cluster.add_node(num_cpus=1, temp_dir=temp_dir, dashboard_agent_listen_port=free_port())
        cluster.wait_for_nodes()
        # A job's driver finds its cluster through <temp_dir>/ray_current_cluster (`ray start --head
        # --temp-dir` writes it; Cluster writes only /tmp/ray's, which another Ray may own), else by
        # scanning for any GCS on the machine, which may be someone else's.
        from ray._private.utils import write_ray_address

        write_ray_address(cluster.gcs_address, temp_dir)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/api/version", headers=auth_headers(), timeout=3).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"the Jobs API at {url} did not answer")
        yield SimpleNamespace(url=url, gcs=cluster.address)
    finally:
        cluster.shutdown()
        os.environ["PATH"] = old_path
        shutil.rmtree(temp_dir, ignore_errors=True)


def ganforge(*args: str, timeout: float = 120) -> str:
    """Run the ganforge CLI as a user would; returns stdout (fails the test on a non-zero exit)."""
    done = subprocess.run([GANFORGE, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"ganforge {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def submit(cluster, tracking_uri: str, *overrides: str) -> str:
    """`ganforge submit train jobs/quickstart.yaml ...`; returns the job id it printed."""
    sets = [arg for item in overrides for arg in ("--set", item)]
    out = ganforge("submit", "train", "jobs/quickstart.yaml", "--address", cluster.url, "--tracking-uri", tracking_uri,
                   "--working-dir", str(REPO), *sets)
    return next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("job_id: "))


def wait_for_job(cluster, job_id: str, timeout: float = 600, on_poll=None, poll_s: float = 1.0) -> str:
    """Poll `ganforge jobs status` semantics through the client until a terminal state."""
    from ganforge.commands.submit import TERMINAL, job_client

    client = job_client(cluster.url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = str(client.get_job_status(job_id).value)
        if status in TERMINAL:
            return status
        if on_poll:
            on_poll()
        time.sleep(poll_s)
    pytest.fail(f"job {job_id} still running after {timeout} s:\n{client.get_job_logs(job_id)[-3000:]}")


def train_workers(cluster, state: str | None = None) -> list:
    """Ray Train worker actors of the cluster (state API over HTTP), optionally by state."""
    from ray.util.state import list_actors

    filters = [("class_name", "=", WORKER_CLASS)] + ([("state", "=", state)] if state else [])
    return list_actors(address=cluster.url, filters=filters, detail=True, raise_on_missing_output=False)


# The quickstart's model at toy size: these jobs test the cluster (placement, the Jobs API, MLflow,
# a worker replaced from a checkpoint), not the model; its full size made each job a minute of steps.
TOY_MODEL = {"data.resolution": 16, "model.options.ngf": 8, "model.options.ndf": 8, "train.batch_size": 16}


def job_settings(tmp_path: Path, experiment: str, **extra) -> list[str]:
    base = {"scaling.workers": 2, "scaling.placement_strategy": "SPREAD", "scaling.storage_path": str(tmp_path / "ray"),
            "tracking.experiment": experiment, "tracking.registered_model": f"{experiment}-g", "train.sample_every": 0,
            "train.torch_threads": 1, **TOY_MODEL, **extra}
    return [f"{key}={value}" for key, value in base.items()]


def only_run(client, experiment: str):
    runs = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


# One job's settings for the uninterrupted reference and the killed run: equal runs end equal.
# The first checkpoint at step 40 of 320: the kill (about a second after Ray registers it: a State
# API query over HTTP, then SIGKILL) lands long before the end on a fast machine too. At 120 steps
# of the full-size model a clean-clone CI run once finished its last step first, and no restart
# happened to check; a toy step takes tens of ms, so 280 steps after the first checkpoint leave
# several seconds.
FAULT_STEPS, FAULT_EVERY = 320, 40
FAULT_SETTINGS = {"train.steps": FAULT_STEPS, "train.checkpoint_every": FAULT_EVERY, "train.log_every": 1,
                  "train.max_failures": 1}


@pytest.fixture(scope="module")
def uninterrupted_job(two_node_cluster, mlflow_server, tmp_path_factory):
    """A 2-worker job submitted as a user would, run to the end: the submit test's subject and
    the killed run's reference (sharing it saves a cluster job)."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("uninterrupted")
    experiment = f"cluster-{uuid.uuid4().hex[:8]}"
    before = {w.actor_id for w in train_workers(two_node_cluster)}
    job_id = submit(two_node_cluster, mlflow_server, *job_settings(root, experiment, **FAULT_SETTINGS))
    status = wait_for_job(two_node_cluster, job_id)
    logs = ganforge("jobs", "logs", job_id, "--address", two_node_cluster.url)
    assert status == "SUCCEEDED", logs[-5000:]
    workers = [w for w in train_workers(two_node_cluster) if w.actor_id not in before]
    run = only_run(MlflowClient(mlflow_server), experiment)
    return SimpleNamespace(job_id=job_id, experiment=experiment, workers=workers, run=run, logs=logs, root=root)


def test_submit_two_nodes_to_mlflow_server(two_node_cluster, mlflow_server, uninterrupted_job, tmp_path):
    from mlflow.tracking import MlflowClient

    job, experiment = uninterrupted_job, uninterrupted_job.experiment
    assert ganforge("jobs", "status", job.job_id, "--address", two_node_cluster.url).strip() == "SUCCEEDED"
    assert len(job.workers) == 2
    assert len({w.node_id for w in job.workers}) == 2, "SPREAD should put the two DDP workers on different nodes"

    client = MlflowClient(mlflow_server)
    run = job.run
    assert run.info.status == "FINISHED"
    assert max(m.step for m in client.get_metric_history(run.info.run_id, "images_per_s")) == FAULT_STEPS
    versions = client.search_model_versions(f"name='{experiment}-g'")
    assert [v.run_id for v in versions] == [run.info.run_id]
    assert f"run_id: {run.info.run_id}" in job.logs

    # --resume of a directory on the driver's disk: the run's workers, one per node, read the
    # checkpoint from the run's storage, where the driver staged it.
    mine = Path(client.download_artifacts(run.info.run_id, "checkpoint", str(tmp_path / "mine")))
    known = {w.actor_id for w in train_workers(two_node_cluster)}
    more = {**FAULT_SETTINGS, "train.steps": FAULT_STEPS + 10, "train.log_every": 5}
    out = ganforge("submit", "train", "jobs/quickstart.yaml", "--address", two_node_cluster.url, "--tracking-uri",
                   mlflow_server, "--working-dir", str(REPO),
                   *[a for item in job_settings(tmp_path, experiment, **more) for a in ("--set", item)],
                   "--", "--resume", str(mine))
    resumed = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("job_id: "))
    assert wait_for_job(two_node_cluster, resumed) == "SUCCEEDED", ganforge("jobs", "logs", resumed, "--address", two_node_cluster.url)
    second = max(client.search_runs([run.info.experiment_id]), key=lambda r: r.info.start_time)
    tags = second.data.tags
    assert second.info.run_id != run.info.run_id and tags["ganforge.restored_from_step"] == str(FAULT_STEPS)
    assert tags["ganforge.restored_from"] == f"{tags['ganforge.checkpoint_root']}/resume_from"
    assert len({w.node_id for w in train_workers(two_node_cluster) if w.actor_id not in known}) == 2


def registered_checkpoint(storage: Path) -> int:
    """The step of the newest checkpoint Ray Train's controller has registered for the run in
    ``storage`` (0 before the first): read from the checkpoint-manager snapshot the controller
    writes to the run's storage once it has registered a reported checkpoint."""
    import json

    steps = [0]
    for snapshot in storage.rglob("checkpoint_manager_snapshot.json"):
        try:
            latest = json.loads(snapshot.read_text()).get("latest_checkpoint_result")
        except (OSError, ValueError):  # being replaced right now: read it at the next poll
            continue
        if latest:
            steps.append(int(latest["metrics"]["step"]))
    return max(steps)


def final_checkpoint(client, run_id: str, directory: Path) -> dict:
    """The run's final training checkpoint (the artifact rank 0 logs at the end)."""
    from ganforge.train.checkpoint import load_checkpoint

    return load_checkpoint(client.download_artifacts(run_id, "checkpoint/checkpoint.pt", str(directory)))


def test_worker_killed_mid_run_resumes_from_checkpoint(two_node_cluster, mlflow_server, uninterrupted_job, tmp_path):
    from mlflow.tracking import MlflowClient

    from statecompare import differences

    steps, every, settings = FAULT_STEPS, FAULT_EVERY, FAULT_SETTINGS
    experiment = f"fault-{uuid.uuid4().hex[:8]}"
    client = MlflowClient(mlflow_server)
    before = {w.actor_id for w in train_workers(two_node_cluster)}
    job_id = submit(two_node_cluster, mlflow_server, *job_settings(tmp_path, experiment, **settings))
    killed: dict = {}

    def kill_after_a_registered_checkpoint():
        """Kill a worker once Ray has registered a checkpoint, whatever the step rate."""
        if "step" in killed or not (registered := registered_checkpoint(tmp_path / "ray")):
            return
        alive = [w for w in train_workers(two_node_cluster, "ALIVE") if w.actor_id not in before]
        if len(alive) == 2:
            os.kill(alive[-1].pid, signal.SIGKILL)
            killed.update(step=registered, pid=alive[-1].pid)

    status = wait_for_job(two_node_cluster, job_id, on_poll=kill_after_a_registered_checkpoint, poll_s=0.3)
    assert status == "SUCCEEDED", ganforge("jobs", "logs", job_id, "--address", two_node_cluster.url)[-5000:]
    assert "step" in killed, "no worker was killed: Ray registered no checkpoint while the run lasted"

    run = only_run(client, experiment)
    assert run.info.status == "FINISHED"
    history = sorted(client.get_metric_history(run.info.run_id, "images_per_s"), key=lambda m: (m.timestamp, m.step))
    logged = [m.step for m in history]
    assert logged[-1] == steps and set(logged) == set(range(1, steps + 1))
    back = next((i for i in range(1, len(logged)) if logged[i] <= logged[i - 1]), None)
    assert back is not None, "the step axis never went back: no restart from a checkpoint happened"
    restored_from = logged[back] - 1
    # Restored from the registered checkpoint seen at the kill, or a newer one registered meanwhile.
    assert restored_from % every == 0 and killed["step"] <= restored_from < steps, (restored_from, killed)
    assert len(train_workers(two_node_cluster)) - len(before) >= 4, "the worker group should have been replaced"
    assert client.search_model_versions(f"name='{experiment}-g'")[0].run_id == run.info.run_id

    # The same job uninterrupted ends bit for bit where the killed-and-restored one ended.
    parts = ("G", "D", "G_ema", "opt_g", "opt_d", "sched_g", "sched_d")
    a = final_checkpoint(client, uninterrupted_job.run.info.run_id, tmp_path / "a")
    b = final_checkpoint(client, run.info.run_id, tmp_path / "b")
    assert not differences({p: a[p] for p in parts}, {p: b[p] for p in parts})
