"""``ganforge train SPEC``: one training run on Ray Train, tracked in MLflow."""
from __future__ import annotations

import shlex
from typing import List, Optional

import typer

from ganforge.commands import fail, load_spec_or_exit


def command_line(spec_path: str, set_: list[str], workers: Optional[int], address: Optional[str],
                 name: str = "train") -> str:
    """``ganforge <name>`` as typed (without --resume): what continues a failed run when --resume is added."""
    parts = ["ganforge", name, spec_path]
    for item in set_:
        parts += ["--set", item]
    parts += ["--workers", str(workers)] if workers else []
    parts += ["--address", address] if address else []
    return shlex.join(parts)


def next_commands(outcome, spec) -> list[str]:
    """What a person usually does after a training run (serving and evaluating what it learnt)."""
    from ganforge.tasks import task_of

    lines = [f"mlflow ui --backend-store-uri {outcome.tracking_uri}"]
    if outcome.registered_model and outcome.registered_version:
        source = f"models:/{outcome.registered_model}/{outcome.registered_version}"
    else:
        source = outcome.run_id
    return lines + [f"ganforge serve {source}", *task_of(spec).evaluate_commands(source)]


def print_summary(outcome, spec) -> None:
    """The run's results on stdout (machine-readable ``key: value`` lines), then the next commands."""
    typer.echo(f"run_id: {outcome.run_id}")
    typer.echo(f"tracking_uri: {outcome.tracking_uri}")
    typer.echo(f"checkpoint: {outcome.checkpoint_path}")
    if outcome.registered_model:
        typer.echo(f"registered_model: {outcome.registered_model}")
        typer.echo(f"registered_version: {outcome.registered_version}")
    typer.echo("next:")
    for line in next_commands(outcome, spec):
        typer.echo(f"  {line}")


def train(
    spec_path: str = typer.Argument(..., metavar="SPEC", help="experiment spec (YAML), e.g. jobs/quickstart.yaml"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key: --set train.steps=200"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Ray Train workers (scaling.workers)"),
    resume: Optional[str] = typer.Option(None, "--resume", help="MLflow run id or checkpoint directory to continue"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or a local instance)"),
    verbose: bool = typer.Option(False, "--verbose", help="show Ray's and MLflow's own logs and the workers' output"),
) -> None:
    """Train the GAN a spec describes."""
    spec = load_spec_or_exit(spec_path, set_, workers)
    from ganforge.train.preflight import PreflightError, check_training_inputs

    try:
        check_training_inputs(spec)
    except PreflightError as err:
        fail(str(err))
    train_and_report(spec, "train", spec_path, set_, workers, address, resume, verbose)


def train_and_report(spec, name: str, spec_path: str, set_: Optional[List[str]], workers: Optional[int],
                     address: Optional[str], resume: Optional[str], verbose: bool) -> None:
    """Run a checked spec's training (``ganforge train`` or ``adapt``, logged as ``name``): library
    logs to a file, one error line on failure (exit 2 for a bad --resume, 1 for a failed run),
    else the summary with the next commands."""
    from ganforge.console import capture_library_logs
    from ganforge.train.driver import ResumeError, TrainingError, run_training

    capture_library_logs(name, verbose)
    try:
        outcome = run_training(spec, address=address, resume=resume, verbose=verbose,
                               command=command_line(spec_path, list(set_ or []), workers, address, name))
    except ResumeError as err:
        fail(str(err))
    except TrainingError as err:
        fail(str(err), code=1)
    print_summary(outcome, spec)


def register(app: typer.Typer) -> None:
    app.command()(train)
