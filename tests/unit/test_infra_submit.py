"""`ganforge submit` / `ganforge jobs` without a cluster: the entrypoint, runtime_env, the Ray
token header, address resolution, and the commands against a fake Jobs client."""
from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from ganforge.commands import submit as submit_mod

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def test_entrypoint_is_the_local_command():
    entry = submit_mod.build_entrypoint("train", "jobs/quickstart.yaml", ["train.steps=20", "name=a b"], 2, [])
    assert shlex.split(entry) == ["ganforge", "train", "jobs/quickstart.yaml", "--set", "train.steps=20",
                                  "--set", "name=a b", "--workers", "2"]
    entry = submit_mod.build_entrypoint("evaluate", "models:/g/1", [], 2, ["--metrics", "fid"])
    assert shlex.split(entry) == ["ganforge", "evaluate", "models:/g/1", "--metrics", "fid"]


def test_runtime_env_carries_project_and_tracking_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    env = submit_mod.build_runtime_env("/proj", "http://mlflow:5000")
    assert env["working_dir"] == "/proj"
    assert {".venv", "mlruns", "mlflow.db", ".git"} <= set(env["excludes"])
    assert env["env_vars"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["env_vars"]["NO_ALBUMENTATIONS_UPDATE"] == "1"


def test_auth_header_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    assert submit_mod.auth_headers() == {}
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-file\n")
    assert submit_mod.auth_headers() == {"Authorization": "Bearer from-file"}
    other = tmp_path / "tok"
    other.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(other))
    assert submit_mod.auth_headers() == {"Authorization": "Bearer from-path"}
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert submit_mod.auth_headers() == {"Authorization": "Bearer from-env"}


def test_address_resolution(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # a GCS address is not the Jobs API
    assert submit_mod.resolve_address("head:8265") == "http://head:8265"
    assert submit_mod.resolve_address("https://head:8265/") == "https://head:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://head:8265")
    assert submit_mod.resolve_address(None) == "http://head:8265"
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(Exception):
        submit_mod.resolve_address(None)


class FakeJobs:
    """Just enough of JobSubmissionClient."""

    def __init__(self):
        self.submitted = []
        self.failures = 1  # the first submit meets a head without a job agent yet

    def submit_job(self, **job):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("Request failed with status code 500: No available agent to submit job")
        self.submitted.append(job)
        return "raysubmit_fake"

    def get_job_status(self, job_id):
        return SimpleNamespace(value="SUCCEEDED")

    def get_job_info(self, job_id):
        return SimpleNamespace(status=SimpleNamespace(value="SUCCEEDED"), message="")

    def get_job_logs(self, job_id):
        return "[ganforge] done\nrun_id: abc123\n"

    def stop_job(self, job_id):
        return False


@pytest.fixture
def cli(monkeypatch):
    from ganforge.cli import _register_commands, app

    if not app.registered_commands:
        _register_commands()
    fake = FakeJobs()
    monkeypatch.setattr(submit_mod, "job_client", lambda address: fake)
    monkeypatch.setattr(submit_mod.time, "sleep", lambda s: None)
    runner = CliRunner()
    return SimpleNamespace(fake=fake, run=lambda *args: runner.invoke(app, list(args)))


def test_submit_and_jobs_commands(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    result = cli.run("submit", "train", "jobs/quickstart.yaml", "--address", "http://h:8265", "--set", "train.steps=20",
                     "--tracking-uri", "http://mlflow:5000", "--wait")
    assert result.exit_code == 0, result.output
    assert "job_id: raysubmit_fake" in result.output and "status: SUCCEEDED" in result.output
    job = cli.fake.submitted[0]
    assert job["entrypoint"] == "ganforge train jobs/quickstart.yaml --set train.steps=20"
    assert job["runtime_env"]["working_dir"] == str(REPO)
    assert cli.run("jobs", "status", "raysubmit_fake").output.splitlines()[0] == "SUCCEEDED"
    assert "run_id: abc123" in cli.run("jobs", "logs", "raysubmit_fake").output
    assert cli.run("jobs", "stop", "raysubmit_fake").output.strip() == "not running"


def test_submit_refuses_unknown_command_and_missing_spec(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    assert cli.run("submit", "serve", "jobs/quickstart.yaml", "--address", "h:8265").exit_code == 2
    result = cli.run("submit", "train", "jobs/nope.yaml", "--address", "h:8265")
    assert result.exit_code == 2 and "not found" in result.output
