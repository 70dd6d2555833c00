"""``ganforge tune SPEC``: a Ray Tune search over the spec's ``search:`` section, tracked in MLflow."""
from __future__ import annotations

from typing import List, Optional

import typer

from ganforge.commands import fail, load_spec_or_exit


def tune(
    spec_path: str = typer.Argument(..., metavar="SPEC", help="spec with a search: section, e.g. jobs/tune/quickstart.yaml"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key: --set search.num_samples=8"),
    resume: bool = typer.Option(False, "--resume", help="continue the latest search of this spec (finished trials are kept)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or a local instance)"),
    output: Optional[str] = typer.Option(None, "--output", help="directory for the table, plots and best spec (default: the Tune experiment directory)"),
    verbose: bool = typer.Option(False, "--verbose", help="show Ray's and MLflow's own logs and the trials' output"),
) -> None:
    """Search hyperparameters of the GAN a spec describes; register the best generator."""
    spec = load_spec_or_exit(spec_path, set_)
    from ganforge.console import capture_library_logs
    from ganforge.train.preflight import PreflightError, check_training_inputs

    try:
        check_training_inputs(spec)
    except PreflightError as err:
        fail(str(err))
    capture_library_logs("tune", verbose)
    from ganforge.tune.search import SearchError, run_search
    from ganforge.tune.space import SearchSpaceError
    from ganforge.tune.summary import summarize

    try:
        outcome = run_search(spec, address=address, resume=resume, verbose=verbose)
    except (SearchError, SearchSpaceError) as err:
        fail(str(err))
    summary = summarize(outcome, spec, output)
    typer.echo(summary.table_markdown)
    typer.echo(f"parent_run_id: {outcome.parent_run_id}")
    typer.echo(f"tracking_uri: {outcome.tracking_uri}")
    typer.echo(f"experiment_path: {outcome.experiment_path}")
    typer.echo(f"outputs: {summary.output_dir}")
    if summary.best_spec is None:
        fail("no trial finished with a finite metric; see the table above", code=1)
    typer.echo(f"best_run_id: {summary.best_run_id}")
    typer.echo(f"best_spec: {summary.best_spec}")
    typer.echo(f"registered_model: {summary.registered}")
    for row in summary.truncation_rows:
        typer.echo("truncation: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


def register(app: typer.Typer) -> None:
    app.command()(tune)
