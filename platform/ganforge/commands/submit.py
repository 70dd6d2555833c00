"""``ganforge submit`` and ``ganforge jobs``: run a ganforge command on a Ray cluster through the
Ray Jobs API (HTTP, the dashboard port, 8265 by default).

The job runs the same command a user types locally (``ganforge train SPEC --set ...``); the
project directory travels as the job's ``working_dir`` so jobs/ specs resolve on the cluster.
MLflow's tracking URI is passed to the job through ``runtime_env.env_vars`` so every job logs to
one server. Ray's token authentication (on by default) is handled by sending the token
(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token) as a Bearer header.
"""
from __future__ import annotations

import os
import re
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List, Optional
from urllib.parse import urlparse

import typer

from ganforge.commands import fail, load_spec_or_exit

COMMANDS = ("train", "tune", "evaluate")
# Never uploaded with the working_dir: the venv, local MLflow stores, Ray results, VCS, caches.
EXCLUDES = [".venv", ".venv/", "mlruns", "mlruns/", "mlartifacts", "mlflow.db", ".git", ".git/", "ray_results",
            "__pycache__", ".pytest_cache", "*.egg-info", "*.pyc", "build", "dist"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
# The submitter's variables the job needs: the tracking server, and where the code looks for data
# (data/sources.py DATA_DIR_ENV, data/idx.py) and weights (metrics/weights.py env_var fields).
FORWARDED_ENV = ("MLFLOW_TRACKING_URI", "GANFORGE_DATA_DIR", "GANFORGE_FASHION_MNIST_DIR", "GANFORGE_INCEPTION_WEIGHTS",
                 "GANFORGE_INCEPTION_PORT_WEIGHTS", "GANFORGE_LPIPS_WEIGHTS", "GANFORGE_VGG16_WEIGHTS",
                 "GANFORGE_CLIP_WEIGHTS")
QUIET_ENV = {"NO_ALBUMENTATIONS_UPDATE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0"}
ADDRESS_HELP = "Ray dashboard / Jobs API address, e.g. http://HEAD:8265 (default: RAY_API_SERVER_ADDRESS, RAY_ADDRESS)"

jobs_app = typer.Typer(no_args_is_help=True, help="Status, logs and stop for jobs sent with `ganforge submit`.")


def auth_headers() -> dict[str, str]:
    """The Ray token as an Authorization header, or {} when there is none (auth disabled)."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    if not token:
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
        token = path.read_text().strip() if path.is_file() else ""
    return {"Authorization": f"Bearer {token}"} if token else {}


def resolve_address(address: Optional[str]) -> str:
    """``--address``, else RAY_API_SERVER_ADDRESS / RAY_ADDRESS when they are HTTP addresses."""
    env_ray = os.environ.get("RAY_ADDRESS", "")
    candidate = address or os.environ.get("RAY_API_SERVER_ADDRESS") or (env_ray if env_ray.startswith("http") else None)
    if not candidate:
        fail("no Jobs API address: pass --address http://HEAD:8265 (or set RAY_API_SERVER_ADDRESS)")
    return (candidate if "://" in candidate else f"http://{candidate}").rstrip("/")


def connect(url: str):
    """A JobSubmissionClient for ``url`` that sends the Ray auth token (it checks /api/version)."""
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(url, headers=auth_headers())


def job_client(address: Optional[str]):
    """A client for ``address``, or one line saying what answered there instead."""
    url = resolve_address(address)
    try:
        return connect(url)
    except Exception as err:  # connection refused, 401/403, not a Ray dashboard
        fail(read_answer(err, url).what, code=1)


def build_entrypoint(command: str, target: str, overrides: list[str], workers: Optional[int], extra: list[str]) -> str:
    """The shell command the job runs: the same ``ganforge`` command a user types locally."""
    parts = ["ganforge", command, target]
    for item in overrides:
        parts += ["--set", item]
    if workers is not None and command != "evaluate":
        parts += ["--workers", str(workers)]
    return shlex.join(parts + list(extra))


def build_runtime_env(working_dir: str, tracking_uri: Optional[str]) -> dict:
    """runtime_env for the job: the project as working_dir (minus local state), env vars for MLflow."""
    env = dict(QUIET_ENV)
    env.update({name: os.environ[name] for name in FORWARDED_ENV if os.environ.get(name)})
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    return {"working_dir": working_dir, "excludes": EXCLUDES, "env_vars": env}


def spec_tracking_uri(command: str, target: str, overrides: list[str]) -> Optional[str]:
    """The spec's tracking URI (train/tune take a spec; evaluate's SOURCE may not be one)."""
    if command == "evaluate":
        return None
    return load_spec_or_exit(target, overrides).tracking.tracking_uri


def submit(
    ctx: typer.Context,
    command: str = typer.Argument(..., metavar="COMMAND", help="train, tune or evaluate"),
    target: str = typer.Argument(..., metavar="SPEC", help="spec path relative to the project (evaluate: its SOURCE)"),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key: --set train.steps=200"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Ray Train workers (scaling.workers)"),
    working_dir: str = typer.Option(".", "--working-dir", help="project directory uploaded with the job"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow URI for the job (default: spec, then MLFLOW_TRACKING_URI)"),
    job_id: Optional[str] = typer.Option(None, "--job-id", help="submission id (default: Ray picks raysubmit_...)"),
    wait: bool = typer.Option(False, "--wait", help="follow the logs until the job ends; exit 1 unless it SUCCEEDED"),
    agent_timeout: float = typer.Option(90.0, "--agent-timeout", min=0,
                                        help="seconds to wait for a starting head's Jobs API and job agent"),
) -> None:
    """Submit `ganforge COMMAND SPEC ...` to a Ray cluster; prints the job id. Extra args after `--` pass through."""
    if command not in COMMANDS:
        fail(f"COMMAND must be one of {', '.join(COMMANDS)}, not {command!r}")
    root = Path(working_dir).resolve()
    if command != "evaluate":
        target = spec_in_project(root, target)
    spec_uri = spec_tracking_uri(command, str(root / target), list(set_ or []))
    uri = tracking_uri or spec_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri or uri.startswith(("sqlite:", "file:")) or "://" not in uri:
        typer.secho(f"warning: MLflow tracking URI {uri or '(none)'} is local to whichever node runs the job; "
                    "use an MLflow server (--tracking-uri http://HOST:5000)", fg=typer.colors.YELLOW, err=True)
    entrypoint = build_entrypoint(command, target, list(set_ or []), workers, list(ctx.args))
    url = resolve_address(address)
    job = {"entrypoint": entrypoint, "runtime_env": build_runtime_env(str(root), uri), "submission_id": job_id,
           "metadata": {"ganforge.command": command, "ganforge.spec": target}}
    client, submitted = submit_when_ready(lambda: connect(url), url, job, agent_timeout)
    typer.echo(f"job_id: {submitted}")
    typer.echo(f"entrypoint: {entrypoint}")
    if uri:
        typer.echo(f"tracking_uri: {uri}")
    if wait:
        status = follow(client, submitted)
        typer.echo(f"status: {status}")
        raise typer.Exit(0 if status == "SUCCEEDED" else 1)


def spec_in_project(root: Path, target: str) -> str:
    """The spec's path relative to the uploaded project (the job sees only what travels)."""
    path = Path(target) if Path(target).is_absolute() else (root / target)
    if not path.is_file():
        fail(f"spec {target} not found under {root}: give it relative to --working-dir")
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        fail(f"spec {target} is outside the project {root} that travels with the job; copy it into jobs/")


AGENT_PORT = 52365  # Ray's default dashboard agent HTTP port (ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT)
POLL_S = 2.0


@dataclass(frozen=True)
class Finding:
    """What the Jobs API address answered: a kind, a line for the user, whether waiting can help."""

    kind: str
    what: str
    transient: bool


def read_answer(err: BaseException, url: str) -> Finding:
    """Turn a failed connect or submit into what was found at ``url``."""
    from ray.exceptions import AuthenticationError
    from requests.exceptions import ConnectionError as RequestsConnectionError
    from requests.exceptions import JSONDecodeError

    text = str(err)
    if isinstance(err, AuthenticationError):
        code = "403 (the token is wrong)" if text.startswith("Authentication failed") else "401 (no token sent)"
        return Finding("auth", f"{url} answered {code}: set RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH to a copy of "
                               "the head's ~/.ray/auth_token", False)
    if isinstance(err, (ConnectionError, RequestsConnectionError)):
        return Finding("no-server", f"nothing is listening at {url}", True)
    if "No available agent" in text:
        return Finding("no-agent", f"{url} answers but the head's job agent is not up", True)
    if "Version check returned 404" in text or isinstance(err, JSONDecodeError) or (
            isinstance(err, KeyError) and "ray_version" in text):
        return Finding("not-ray", f"{url} is not a Ray dashboard (no Ray version at /api/version): point --address "
                                  "at the head's dashboard port (8265 by default)", False)
    return Finding("other", f"the Ray Jobs API at {url} failed: {text}", False)


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _no_server_hint(url: str, timeout_s: float, probe) -> str:
    return (f"nothing is listening at {url} after {timeout_s:.0f} s: is the head up? (`ray start --head` serves "
            "the Jobs API on its dashboard port, 8265 by default)")


def _no_agent_hint(url: str, timeout_s: float, probe) -> str:
    host = urlparse(url).hostname or "localhost"
    found = f"{url} answers but the head's job agent did not come up in {timeout_s:.0f} s"
    if probe(host, AGENT_PORT):
        return (f"{found}; port {AGENT_PORT} on {host}, the agent's default, is held (another Ray instance's "
                "agent?), so this head's agent cannot bind it: start the head with "
                "`ray start --head --dashboard-agent-listen-port=PORT` (a free port)")
    return (f"{found}; port {AGENT_PORT} on {host} is free, so the agent failed to start or uses another port: "
            "see dashboard_agent.log in the head's session logs (/tmp/ray/session_latest/logs)")


GIVE_UP_HINTS = {"no-server": _no_server_hint, "no-agent": _no_agent_hint}


def submit_when_ready(connect_: Callable[[], Any], url: str, job: dict, timeout_s: float, *,
                      clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                      probe: Callable[[str, int], bool] = port_in_use) -> tuple[Any, str]:
    """Connect and submit ``job``; returns (client, job id).

    A head that ``ray start --head`` just started may not listen yet, and its job agent starts
    after its HTTP API ("No available agent"): both are waited for, up to ``timeout_s``, with a
    status line per new finding. Answers waiting cannot change (401/403, not a Ray dashboard,
    any other error) fail at once; a wait that runs out says what it found.
    """
    deadline = clock() + timeout_s
    client, shown = None, None
    while True:
        try:
            client = client or connect_()
            return client, client.submit_job(**job)
        except Exception as err:  # classified below: the user gets one line, never a traceback
            finding = read_answer(err, url)
        if not finding.transient:
            fail(finding.what, code=1)
        if clock() >= deadline:
            fail(GIVE_UP_HINTS[finding.kind](url, timeout_s, probe), code=1)
        if finding != shown:
            typer.echo(f"waiting up to {timeout_s:.0f} s: {finding.what}", err=True)
            shown = finding
        sleep(POLL_S)


def follow(client, job_id: str, poll_s: float = 2.0) -> str:
    """Print the job's logs as they grow until it reaches a terminal state; returns that state."""
    printed = 0
    while True:
        status = str(client.get_job_status(job_id).value)
        logs = client.get_job_logs(job_id)
        sys.stdout.write(logs[printed:])
        sys.stdout.flush()
        printed = len(logs)
        if status in TERMINAL:
            return status
        time.sleep(poll_s)


def run_id_from_logs(logs: str) -> Optional[str]:
    """The MLflow run id `ganforge train` printed (``run_id: <id>``), if it got that far."""
    found = re.findall(r"^run_id: (\w+)", logs, flags=re.M)
    return found[-1] if found else None


@jobs_app.command("status")
def status(job_id: str = typer.Argument(...), address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP)) -> None:
    """Print the job's Ray status word (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED)."""
    client = job_client(address)
    info = client.get_job_info(job_id)
    typer.echo(str(info.status.value))
    if info.message and str(info.status.value) in ("FAILED", "STOPPED"):
        typer.echo(info.message, err=True)
    run_id = run_id_from_logs(client.get_job_logs(job_id)) if str(info.status.value) == "SUCCEEDED" else None
    if run_id:
        typer.echo(f"run_id: {run_id}", err=True)


@jobs_app.command("logs")
def logs(job_id: str = typer.Argument(...), address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
         follow_: bool = typer.Option(False, "--follow", "-f", help="keep printing until the job ends")) -> None:
    """Print the job's logs (driver output of the ganforge command)."""
    client = job_client(address)
    if follow_:
        follow(client, job_id)
    else:
        typer.echo(client.get_job_logs(job_id), nl=False)


@jobs_app.command("stop")
def stop(job_id: str = typer.Argument(...), address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP)) -> None:
    """Ask Ray to stop the job; prints whether a running job was stopped."""
    stopped = job_client(address).stop_job(job_id)
    typer.echo("stopped" if stopped else "not running")


def register(app: typer.Typer) -> None:
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(submit)
    app.add_typer(jobs_app, name="jobs")
