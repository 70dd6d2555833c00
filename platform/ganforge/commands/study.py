"""``ganforge study STUDY``: variants x seeds of one spec as Tune trials, then the table and plots;
``ganforge study --report PARENT_RUN_ID`` rebuilds the report from MLflow alone."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ganforge.commands import fail


def study(
    study_path: Optional[str] = typer.Argument(None, metavar="STUDY", help="a study document, e.g. jobs/studies/augmentation.yaml"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key of the base and of every variant's own spec: --set train.batch_size=32"),
    resume: bool = typer.Option(False, "--resume", help="continue the latest run of this study (finished trials are kept)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or a local instance)"),
    output: Optional[str] = typer.Option(None, "--output", help="folder for the table and plots (default: studies/NAME or studies/PARENT_RUN_ID)"),
    report_run: Optional[str] = typer.Option(None, "--report", metavar="PARENT_RUN_ID", help="rebuild the report of a study from MLflow (an unfinished one too: its missing cells are listed)"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="with --report: the MLflow tracking URI (default: MLFLOW_TRACKING_URI)"),
    verbose: bool = typer.Option(False, "--verbose", help="show Ray's and MLflow's own logs and the trials' output"),
) -> None:
    """Compare GAN variants: each variant x seed trains as a Tune trial; prints the table."""
    import os

    # The report downloads every sample grid: no MLflow progress bar per file on the console.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if report_run:
        import mlflow

        from ganforge.console import capture_library_logs

        capture_library_logs("study", verbose)
        uri = tracking_uri or mlflow.get_tracking_uri()
        folder = Path(output or Path("studies") / report_run)
        typer.echo(_report_or_fail(uri, report_run, folder))
        typer.echo(f"outputs: {folder}")
        return
    if not study_path:
        fail("give a study document (ganforge study jobs/studies/augmentation.yaml) or --report PARENT_RUN_ID")
    outcome, folder = _run(study_path, set_, resume, address, output, verbose)
    typer.echo(_report_or_fail(outcome.tracking_uri, outcome.parent_run_id, folder))
    typer.echo(f"parent_run_id: {outcome.parent_run_id}")
    typer.echo(f"tracking_uri: {outcome.tracking_uri}")
    typer.echo(f"outputs: {folder}")


def _run(study_path, set_, resume, address, output, verbose):
    """Validate (before Ray starts), check the inputs, run the trials; returns (outcome, folder)."""
    from ganforge.console import capture_library_logs
    from ganforge.study.run import run_study, search_spec
    from ganforge.study.spec import StudyError, load_study
    from ganforge.train.preflight import PreflightError, check_training_inputs
    from ganforge.tune.search import SearchError
    from ganforge.tune.space import SearchSpaceError

    try:
        plan = load_study(study_path, set_)
        check_training_inputs(search_spec(plan))
        check_variant_specs(plan)
    except (StudyError, SearchSpaceError, PreflightError, ValueError, KeyError) as err:
        fail(str(err.args[0]) if isinstance(err, KeyError) else str(err))
    capture_library_logs("study", verbose)
    try:
        outcome = run_study(plan, address=address, resume=resume, verbose=verbose)
    except (SearchError, SearchSpaceError, StudyError) as err:
        fail(str(err))
    return outcome, Path(output or Path("studies") / plan.name)


def _report_or_fail(uri: str, parent_run_id: str, folder: Path) -> str:
    """The report's Markdown; a run that is no study's parent is one error line."""
    from mlflow.exceptions import MlflowException

    from ganforge.study.report import report

    try:
        return report(uri, parent_run_id, folder)
    except (ValueError, MlflowException) as err:
        fail(f"--report {parent_run_id}: {str(err).splitlines()[0]}")


def check_variant_specs(plan) -> None:
    """What ``ganforge train`` / ``ganforge adapt`` check before Ray, for each variant with its own
    spec; an adaptation variant's source is pinned (models:/NAME/latest -> models:/NAME/3) in its
    document, so every seed adapts the same generator. Raises ValueError naming the variant."""
    from ganforge.commands.adapt import checked_spec
    from ganforge.config import spec_from_dict
    from ganforge.study.spec import variant_document
    from ganforge.train.preflight import check_training_inputs

    for name, document in plan.documents.items():
        spec = spec_from_dict(variant_document(plan, name), source=f"study variant {name!r}")
        try:
            if spec.adapt is None:
                check_training_inputs(spec)
                continue
            document.setdefault("adapt", {})["source"] = checked_spec(spec).adapt.source
        except (ValueError, KeyError) as err:
            raise ValueError(f"study variant {name!r}: {err.args[0] if isinstance(err, KeyError) else err}") from None


def register(app: typer.Typer) -> None:
    app.command()(study)
