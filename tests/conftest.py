"""Shared fixtures: one local Ray instance per test session, MLflow stores in temp dirs."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]


def _file_rank(items) -> dict:
    """Per test file: 0 when any of its tests is marked slow, 1 for other server tests (integration,
    e2e), 2 for unit tests."""
    ranks: dict = {}
    for item in items:
        rank = 0 if item.get_closest_marker("slow") else 1 if Path(item.path).parent.name in ("integration", "e2e") else 2
        ranks[item.path] = min(rank, ranks.get(item.path, rank))
    return ranks


def pytest_collection_modifyitems(config, items):
    """The slowest files first, the unit tests last (each file's own order kept): under pytest-xdist
    (the README's `-n 2 --dist loadfile --no-loadscope-reorder`) the two workers start on the long
    Ray tests and the many short unit tests fill in at the end, instead of a long test running
    alone at the end while the other core idles."""
    ranks = _file_rank(items)
    items[:] = [item for _, _, item in sorted((ranks[item.path], index, item) for index, item in enumerate(items))]


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole session (starting Ray costs seconds on 2 cores).

    Yields its GCS address so CLI subprocesses can join it through RAY_ADDRESS.
    """
    import ray

    # 4 logical CPUs on a 2-core machine: a 2-worker trainer plus its controller fit at once.
    # Test modules define worker functions; pytest imports them by file name, so Ray workers
    # need the test folders on their path to unpickle those functions.
    test_dirs = [str(REPO / "tests" / sub) for sub in ("integration", "unit", "e2e")] + [str(REPO / "tests")]
    path = os.pathsep.join(test_dirs + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    from ganforge.raycluster import connect

    connect(None, num_cpus=4, extra_env={"PYTHONPATH": path})
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(autouse=True)
def _forget_mlflow_tracking_uri():
    """Clear MLflow's process-global tracking URI after each test.

    ``mlflow.set_tracking_uri`` (called by code under test, e.g. when logging a model) wins
    over MLFLOW_TRACKING_URI, so without this a later test would log into an earlier test's
    (deleted) store instead of its own.
    """
    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)  # also unsets the env var it had exported
    if env_before is not None:
        os.environ["MLFLOW_TRACKING_URI"] = env_before


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch):
    """A fresh sqlite MLflow store (and artifact dir) for one test, set as MLFLOW_TRACKING_URI."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(None)  # the env var below must be what MLflow resolves
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # default artifact root ./mlruns lands in tmp_path
    return uri


from ganforge.raycluster import free_port  # noqa: E402,F401 - test modules import it from here


@contextlib.contextmanager
def mlflow_server_on(root: Path, backend_uri: str, workers: int = 1):
    """A real `mlflow server` on 127.0.0.1 over ``backend_uri`` (artifacts and log in ``root``);
    yields its URI once /health answers, stops it by PID (its process group) on exit."""
    import requests

    port = free_port()
    log = root / "server.log"
    with open(log, "wb") as output:  # the server keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", backend_uri, "--artifacts-destination", str(root / "artifacts"),
             "--workers", str(workers)],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180  # about 9 s when quiet; a minute and more on a loaded 2-core machine
        while not _answers(requests, f"{uri}/health"):
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"mlflow server on {backend_uri} did not start; log: {log.read_text()[-2000:]}")
            time.sleep(1)
        yield uri
    finally:
        _stop_group(process)


def _answers(requests, url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group we started (gunicorn/uvicorn children), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # slow to stop on a loaded machine
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real `mlflow server` on 127.0.0.1 (sqlite backend); stopped by PID at the end."""
    root = tmp_path_factory.mktemp("mlflow-server")
    with mlflow_server_on(root, f"sqlite:///{root / 'mlflow.db'}") as uri:
        yield uri
