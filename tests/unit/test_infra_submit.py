"""`ganforge submit` / `ganforge jobs` without a cluster: the entrypoint, runtime_env, the Ray
token header, address resolution, and the commands against a fake Jobs client."""
from __future__ import annotations

import os
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


def test_job_sees_the_data_folder_the_data_code_reads(monkeypatch, tmp_path):
    """The job's process has only what runtime_env sets: the data code there must find the
    submitter's GANFORGE_DATA_DIR (it used to forward GANFORGE_DATA_ROOT, which nothing reads)."""
    from ganforge.data import sources

    monkeypatch.setenv(sources.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(tmp_path / "inception.pth"))
    job_env = submit_mod.build_runtime_env("/proj", None)["env_vars"]
    for name in [n for n in os.environ if n.startswith("GANFORGE_")]:  # the cluster node's own environment
        monkeypatch.delenv(name)
    for name, value in job_env.items():
        monkeypatch.setenv(name, value)
    assert sources.data_home() == tmp_path / "data"
    assert os.environ["GANFORGE_INCEPTION_WEIGHTS"] == str(tmp_path / "inception.pth")


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
    monkeypatch.setattr(submit_mod, "connect", lambda url: fake)
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
    at = ("--address", "http://h:8265")
    assert cli.run("jobs", "status", "raysubmit_fake", *at).output.splitlines()[0] == "SUCCEEDED"
    assert "run_id: abc123" in cli.run("jobs", "logs", "raysubmit_fake", *at).output
    assert cli.run("jobs", "stop", "raysubmit_fake", *at).output.strip() == "not running"


def test_submit_refuses_unknown_command_and_missing_spec(cli, monkeypatch):
    monkeypatch.chdir(REPO)
    assert cli.run("submit", "serve", "jobs/quickstart.yaml", "--address", "h:8265").exit_code == 2
    result = cli.run("submit", "train", "jobs/nope.yaml", "--address", "h:8265")
    assert result.exit_code == 2 and "not found" in result.output


# --- waiting for a head that is still starting (ray start --head just returned) -------------------

URL = "http://head:8265"
NO_AGENT = RuntimeError("Request failed with status code 500: No available agent to submit job, please try again later..")


class FakeClock:
    """time.monotonic and time.sleep for the waiting loop: sleeping advances the clock."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class ScriptedHead:
    """A head whose first connects raise ``connects`` (then succeed) and whose submits answer
    ``submits`` in turn (an exception raises, a string is the job id; the last one repeats)."""

    def __init__(self, *submits, connects=()):
        self.connects, self.submits = list(connects), list(submits)
        self.calls = 0

    def connect(self):
        self.calls += 1
        if self.connects:
            raise self.connects.pop(0)
        return self

    def submit_job(self, **job):
        self.calls += 1
        outcome = self.submits.pop(0) if len(self.submits) > 1 else self.submits[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def wait(head, timeout_s=60.0, port_held=False):
    clock = FakeClock()
    result = submit_mod.submit_when_ready(head.connect, URL, {"entrypoint": "ganforge train x"}, timeout_s,
                                          clock=clock, sleep=clock.sleep, probe=lambda host, port: port_held)
    return result, clock


def test_waits_for_the_agent_with_one_status_line(capsys):
    head = ScriptedHead(NO_AGENT, NO_AGENT, NO_AGENT, "raysubmit_1", connects=[ConnectionError("refused")] * 2)
    (client, job_id), clock = wait(head)
    assert job_id == "raysubmit_1" and client is head
    err = capsys.readouterr().err
    assert err.count("nothing is listening") == 1 and err.count("job agent") == 1  # once per new finding
    assert 0 < clock.now < 60


@pytest.mark.parametrize("port_held, says", [(True, "--dashboard-agent-listen-port"), (False, "dashboard_agent.log")])
def test_agent_that_never_comes_up_gives_up_at_the_timeout_saying_why(capsys, port_held, says):
    head = ScriptedHead(NO_AGENT)
    with pytest.raises(typer_exit()) as info:
        wait(head, timeout_s=30, port_held=port_held)
    assert info.value.exit_code == 1
    err = capsys.readouterr().err
    assert "job agent" in err and "30 s" in err and says in err and "52365" in err
    assert 10 <= head.calls <= 20  # one connect, then a submit every 2 s until 30 s: then it stops


def test_nothing_listening_gives_up_at_the_timeout(capsys):
    head = ScriptedHead("never", connects=[ConnectionError("Failed to connect to Ray at address: http://head:8265.")] * 99)
    with pytest.raises(typer_exit()):
        wait(head, timeout_s=10)
    assert "nothing is listening at http://head:8265 after 10 s" in capsys.readouterr().err


@pytest.mark.parametrize("error, says", [
    ("auth401", "401"),
    ("auth403", "403"),
    (RuntimeError("Version check returned 404. Please ensure the cluster is running Ray 1.9 or higher."),
     "not a Ray dashboard"),
    (KeyError("ray_version"), "not a Ray dashboard"),
])
def test_answers_that_waiting_cannot_fix_fail_at_once(capsys, error, says):
    from ray.exceptions import AuthenticationError

    if error == "auth401":
        error = AuthenticationError("Authentication required: Unauthorized")
    elif error == "auth403":
        error = AuthenticationError("Authentication failed: Forbidden")
    head = ScriptedHead("never", connects=[error])
    with pytest.raises(typer_exit()):
        wait(head)
    assert head.calls == 1
    err = capsys.readouterr().err
    assert says in err and URL in err
    if "40" in says:
        assert "RAY_AUTH_TOKEN" in err


def typer_exit():
    import typer

    return typer.Exit
