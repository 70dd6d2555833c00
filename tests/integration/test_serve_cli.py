"""``ganforge serve`` and Ray's own ``serve run`` as users type them: the app comes up on 127.0.0.1,
serves, and stops on Ctrl-C (SIGINT); a source that does not resolve stops both before Ray starts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import free_port
from registered_model import tiny_registry

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GANFORGE = [sys.executable, "-m", "ganforge.cli"]


def test_unknown_source_is_a_clean_user_error():
    result = subprocess.run([*GANFORGE, "serve", "no/such/dir"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no/such/dir" in result.stderr and "models:/name/version" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """models:/tiny versions 1 (alias champion) and 2 in a sqlite store."""
    return tiny_registry(tmp_path_factory.mktemp("serve-cli-store"))


def test_a_registry_source_that_does_not_resolve_exits_2_before_ray_starts(registry):
    # One CLI run (each costs an interpreter start); every other form's message: tests/unit/test_sampling.py.
    source, message = "models:/nope/latest", "no registered model 'nope' in sqlite:///"
    result = subprocess.run([*GANFORGE, "serve", source, "--tracking-uri", registry.uri],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {source}: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Ray" not in result.stderr + result.stdout


def test_ray_serve_run_of_the_app_with_a_bad_source_fails_in_the_builder(registry, tmp_path):
    """`serve run serving.app:app models=...`: the builder's one line, before Ray or Serve start."""
    serve_cli = Path(sys.executable).parent / "serve"
    result = subprocess.run([str(serve_cli), "run", "serving.app:app", "models=models:/tiny/7", f"tracking_uri={registry.uri}"],
                            cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "RAY_ADDRESS": ""})
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last == "ganforge.sampling.SourceError: models:/tiny/7: registered model 'tiny' has no version 7 " \
                   "(versions: 2, 1; models:/tiny/latest is the newest)", result.stderr[-2000:]
    assert "Started a local Ray instance" not in result.stderr


def tiny_generator(directory: Path) -> Path:
    """A checkpoint directory holding an untrained 32 px DCGAN generator."""
    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    spec = ExperimentSpec(name="cli", data={"name": "digits"}, model={"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}})
    generator, _ = build_models(spec.model, (1, 32, 32), 0)
    meta = {"img_shape": [1, 32, 32], "num_classes": 0}
    return atomic_save(generator_state(generator, spec.to_dict(), meta, step=1), directory / GENERATOR_FILE).parent


def wait_healthy(url: str, process, timeout: float = 240) -> dict:
    """/healthz's body once it answers 200 (503 while the generators load)."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            response = requests.get(f"{url}/healthz", timeout=10)
            if response.status_code == 200:
                return response.json()
        except (requests.RequestException, ValueError):
            pass
        time.sleep(2)
    raise AssertionError(f"no healthy /healthz at {url} (exit code {process.poll()})")


def generates_then_stops_on_ctrl_c(url: str, process, body: dict) -> None:
    """A PNG from POST /v1/generate, then SIGINT stops the server cleanly."""
    response = requests.post(f"{url}/v1/generate", json=body, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 0


def kill_if_running(process) -> None:
    """The server we started, if a failed assertion left it running."""
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


def test_serve_prints_the_url_serves_and_stops_on_ctrl_c(ray_session, registry, tmp_path):
    """The reported bug's command: `ganforge serve models:/NAME/latest` serves the highest version."""
    port = free_port()
    env = {**os.environ, "RAY_ADDRESS": ray_session, "PYTHONUNBUFFERED": "1"}  # join the session's Ray instead of starting one
    process = subprocess.Popen([*GANFORGE, "serve", "models:/tiny/latest", "--tracking-uri", registry.uri, "--port", str(port),
                                "--max-batch-size", "8", "--batch-wait", "0.05", "--cpus", "0.5"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.time() + 240
        while time.time() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
            if line.startswith("serving at"):
                lines.append(process.stdout.readline())  # the replicas' settings, from the flags
                break
        assert any(f"serving at http://127.0.0.1:{port}/" in line for line in lines), "".join(lines)[-3000:]
        assert "1 replica(s) x 0.5 CPU; batches of up to 8 requests, 50 ms wait" in lines[-1]
        assert wait_healthy(f"http://127.0.0.1:{port}", process)["models"] == ["tiny/latest"]
        (model,) = requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=60).json()["models"]
        assert (model["version"], model["run_id"]) == ("2", registry.runs[1])
        generates_then_stops_on_ctrl_c(f"http://127.0.0.1:{port}", process, {"seed": 1})
    finally:
        kill_if_running(process)


def test_ray_serve_run_with_the_shipped_config(ray_session, tmp_path):
    """`serve run serving/config.yaml` (Ray's CLI) with the models and port changed, from the repo root."""
    import yaml

    checkpoint = tiny_generator(tmp_path / "gen")
    config = yaml.safe_load((REPO / "serving" / "config.yaml").read_text())
    port = free_port()
    config["http_options"]["port"] = port
    config["applications"][0]["args"]["models"] = [str(checkpoint)]
    path = tmp_path / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    serve_cli = Path(sys.executable).parent / "serve"
    env = {**os.environ, "RAY_ADDRESS": ray_session}
    log = tmp_path / "serve-run.log"
    with open(log, "wb") as sink:  # a file, not a pipe: Serve logs enough to fill a pipe and block
        process = subprocess.Popen([str(serve_cli), "run", str(path)], cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            health = wait_healthy(url, process)
        except AssertionError as err:
            raise AssertionError(f"{err}; serve run printed: {log.read_text()[-3000:]}") from None
        assert health["models"] == ["gen"]
        generates_then_stops_on_ctrl_c(url, process, {"seed": 3, "n": 4, "format": "grid"})
    finally:
        kill_if_running(process)
