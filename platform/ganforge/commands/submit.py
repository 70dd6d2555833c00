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
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from ganforge.commands import fail, load_spec_or_exit

COMMANDS = ("train", "tune", "evaluate")
# Never uploaded with the working_dir: the venv, local MLflow stores, Ray results, VCS, caches.
EXCLUDES = [".venv", ".venv/", "mlruns", "mlruns/", "mlartifacts", "mlflow.db", ".git", ".git/", "ray_results",
            "__pycache__", ".pytest_cache", "*.egg-info", "*.pyc", "build", "dist"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
FORWARDED_ENV = ("MLFLOW_TRACKING_URI", "GANFORGE_INCEPTION_WEIGHTS", "GANFORGE_DATA_ROOT")
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


def job_client(address: Optional[str]):
    """A JobSubmissionClient for ``address`` that sends the Ray auth token."""
    from ray.job_submission import JobSubmissionClient

    url = resolve_address(address)
    try:
        return JobSubmissionClient(url, headers=auth_headers())
    except Exception as err:  # connection refused, 401/403, not a Ray dashboard
        fail(f"cannot reach the Ray Jobs API at {url}: {err}", code=1)


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
    client = job_client(address)
    submitted = submit_with_retry(client, entrypoint=entrypoint, runtime_env=build_runtime_env(str(root), uri),
                                  submission_id=job_id, metadata={"ganforge.command": command, "ganforge.spec": target})
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


def submit_with_retry(client, wait_s: float = 90.0, **job) -> str:
    """client.submit_job, retried while a freshly started head has no job agent yet (HTTP 500)."""
    deadline = time.time() + wait_s
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as err:
            if "No available agent" not in str(err) or time.time() > deadline:
                fail(f"job submission failed: {err}", code=1)
            time.sleep(2)


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
