"""MLflow tracking on PostgreSQL, the backend infra/ deploys for a cluster: a throwaway
PostgreSQL on 127.0.0.1, `mlflow server` on it, a Tune search of 2 concurrent trials and an
evaluation against it. Every trial's params, metrics and artifacts arrive, the best generator is
registered, and nothing fails (on sqlite, concurrent trials once met a UNIQUE race).

The same search checks that a trial trains what `ganforge train` would: the trial whose space
picks ``loss.name: wgan`` runs WGAN's recommended RMSProp and 5 critics (issue 11, item 2).

PostgreSQL comes from `bash scripts/setup.sh` (Debian's postgresql). It refuses to run as root,
so as root its commands run as the `postgres` system user on a data directory that user owns.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import REPO, free_port, mlflow_server_on

pytestmark = pytest.mark.integration

# Two trials at once are the concurrency the sqlite race needed; wgan is the loss whose
# recommendations (RMSProp, 5 critics) differ from the defaults hinge keeps.
LOSSES = ("hinge", "wgan")
SPEC = {
    "name": "pg-search",
    "data": {"name": "digits", "resolution": 16, "limit": 128},
    "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
    # No optim section: each trial's loss recommendations fill it, as they would for `ganforge train`.
    "train": {"steps": 6, "batch_size": 16, "log_every": 2, "sample_every": 0, "checkpoint_every": 3,
              "grid_size": 4, "torch_threads": 1},
    "tracking": {"experiment": "pg-search", "registered_model": "pg-search-best"},
    "search": {"space": {"loss.name": f"grid({', '.join(LOSSES)})"}, "metric": "g_loss", "mode": "min",
               "scheduler": "none", "max_concurrent": 2, "resources": {"workers": 1, "cpus_per_worker": 0.5}},
}


def postgres_program(name: str) -> str:
    """A PostgreSQL server program (Debian keeps them off PATH, under /usr/lib/postgresql/<v>/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")) or [Path(p) for p in [shutil.which(name)] if p]
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found (looked in /usr/lib/postgresql/*/bin and PATH): "
                           "run `bash scripts/setup.sh`, which installs Debian's postgresql")
    return str(found[-1])


def as_owner(command: list[str]) -> list[str]:
    """PostgreSQL will not run as root: as root, run it as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")


def stop_postgres(data: Path, pid: int) -> None:
    """pg_ctl stop -m fast on our data directory, then check that our postmaster is gone
    (pg_ctl returns once postmaster.pid is removed, a moment before the process exits)."""
    run(as_owner([postgres_program("pg_ctl"), "-D", str(data), "stop", "-m", "fast", "-w", "-t", "60"]))
    for _ in range(300):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL postmaster {pid} still runs 30 s after pg_ctl stop")


def infra_backend_scheme() -> str:
    """The backend URI scheme infra/mlflow/docker-compose.yml gives the server (driver included)."""
    compose = yaml.safe_load((REPO / "infra" / "mlflow" / "docker-compose.yml").read_text())
    [uri] = [arg.split("=", 1)[1] for arg in compose["services"]["mlflow"]["command"]
             if arg.startswith("--backend-store-uri=")]
    return urlsplit(uri).scheme


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL on 127.0.0.1 (own port, socket dir, data dir); yields its URI."""
    # Not under pytest's basetemp: its 0700 parents keep the postgres user out.
    root = Path(tempfile.mkdtemp(prefix="gf-postgres-"))
    try:
        with running_postgres(root) as port:
            yield f"{infra_backend_scheme()}://mlflow@127.0.0.1:{port}/mlflow"  # infra's URI, our server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_postgres(root: Path):
    """initdb + pg_ctl start in ``root`` (owned by the postgres user when we are root), database
    `mlflow` created; yields the port, stops the server by its data directory and PID."""
    data, sockets, port = root / "data", root / "sockets", free_port()
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    run(as_owner([postgres_program("initdb"), "-D", str(data), "-U", "mlflow", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-locale"]))
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(as_owner([postgres_program("pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log"), "-o", options,
                  "-w", "-t", "60", "start"]))
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        run([postgres_program("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow"])
        yield port
    finally:
        stop_postgres(data, pid)


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    """`mlflow server` on that PostgreSQL; stopped (by PID) before the database is."""
    root = tmp_path_factory.mktemp("mlflow-on-postgres")
    with mlflow_server_on(root, postgres) as uri:  # one worker: uvicorn kills children slow to start on a loaded machine
        yield uri, root / "server.log"


@pytest.fixture(scope="module")
def search(ray_session, server, tmp_path_factory):
    """The search, run in-process against the server, and its summary (best model registered)."""
    from ganforge.config import load_spec
    from ganforge.tune.search import run_search
    from ganforge.tune.summary import summarize

    uri, _ = server
    root = tmp_path_factory.mktemp("pg-search")
    document = {**SPEC, "scaling": {"storage_path": str(root / "ray")},
                "tracking": {**SPEC["tracking"], "tracking_uri": uri}}
    path = root / "pg-search.yaml"
    path.write_text(yaml.safe_dump(document))
    spec = load_spec(path)
    outcome = run_search(spec)
    return outcome, summarize(outcome, spec, root / "out")


def child_runs(outcome):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(outcome.tracking_uri)
    experiment = client.get_run(outcome.parent_run_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
    return client, {run.data.params["search.loss.name"]: run for run in runs}


def test_search_and_evaluation_are_tracked_completely_on_postgresql(search, server, postgres):
    import psycopg2
    from typer.testing import CliRunner

    from ganforge.cli import _register_commands, app

    outcome, summary = search
    client, runs = child_runs(outcome)
    assert sorted(runs) == sorted(LOSSES)
    # The trials wrote at once (the load the sqlite race needed): all started before any ended.
    assert max(r.info.start_time for r in runs.values()) < min(r.info.end_time for r in runs.values())
    for loss, run in runs.items():
        assert run.info.status == "FINISHED", (loss, run.info.status)
        assert run.data.params["loss.name"] == loss and run.data.params["train.steps"] == "6"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "g_loss")] == [2, 4, 6]
        assert {"d_loss", "g_loss"} <= set(run.data.metrics)
        assert [a.path for a in client.list_artifacts(run.info.run_id, "samples")], f"{loss}: no sample grid"
    assert summary.registered == "models:/pg-search-best/1"
    [version] = client.search_model_versions("name = 'pg-search-best'")
    assert version.run_id == summary.best_run_id and version.status == "READY"

    if not app.registered_commands:
        _register_commands()
    evaluated = CliRunner().invoke(app, ["evaluate", summary.registered, "--metrics", "fid", "--n", "32",
                                         "--extractor", "domain:digits", "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    run_id, prefix = re.search(r"logged to MLflow run (\w+) as (\S+)\*", evaluated.output).groups()
    assert any(key.startswith(prefix) for key in client.get_run(run_id).data.metrics)

    # It was PostgreSQL that stored them, and the server met no error on the way.
    with psycopg2.connect(postgres.replace("+psycopg2", "")) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from runs where run_uuid = %s or run_uuid = any(%s)",
                       (outcome.parent_run_id, [r.info.run_id for r in runs.values()]))
        assert cursor.fetchone()[0] == 1 + len(LOSSES)
    log = server[1].read_text()
    assert "Traceback" not in log and "IntegrityError" not in log, log[-3000:]


def test_a_trial_whose_space_picks_wgan_trains_with_rmsprop_and_five_critics(search):
    outcome, _ = search
    _, runs = child_runs(outcome)
    expected = {  # (G optimizer, D optimizer, critics per G step) after each loss's recommendations
        "wgan": ("rmsprop", "rmsprop", "5"), "hinge": ("adam", "adam", "1")}
    for loss, (g_name, d_name, n_critic) in expected.items():
        params = runs[loss].data.params
        assert (params["optim.g.name"], params["optim.d.name"], params["loss.n_critic"]) == (g_name, d_name, n_critic)
    assert float(runs["wgan"].data.params["optim.g.lr"]) == pytest.approx(5e-5)
