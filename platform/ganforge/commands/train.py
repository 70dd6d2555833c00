"""``ganforge train SPEC``: one training run on Ray Train, tracked in MLflow."""
from __future__ import annotations

from typing import List, Optional

import typer

from ganforge.commands import fail, load_spec_or_exit


def train(
    spec_path: str = typer.Argument(..., metavar="SPEC", help="experiment spec (YAML), e.g. jobs/quickstart.yaml"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key: --set train.steps=200"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Ray Train workers (scaling.workers)"),
    resume: Optional[str] = typer.Option(None, "--resume", help="MLflow run id or checkpoint directory to continue"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or a local instance)"),
) -> None:
    """Train the GAN a spec describes."""
    spec = load_spec_or_exit(spec_path, set_, workers)
    from ganforge.train.driver import TrainingError, run_training

    try:
        outcome = run_training(spec, address=address, resume=resume)
    except TrainingError as err:
        fail(str(err), code=1)
    typer.echo(f"run_id: {outcome.run_id}")
    typer.echo(f"tracking_uri: {outcome.tracking_uri}")
    typer.echo(f"checkpoint: {outcome.checkpoint_path}")
    if outcome.registered_model:
        typer.echo(f"registered_model: {outcome.registered_model}")


def register(app: typer.Typer) -> None:
    app.command()(train)
