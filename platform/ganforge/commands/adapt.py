"""``ganforge adapt SPEC``: adapt a trained generator to a few images (bsa, finetune, freezed).

Thin: the spec's ``adapt:`` section names the source, the method and its settings; the run is the
shared training run of the adapt task (Ray Train, MLflow, checkpoints, --resume). Everything
that can be checked before Ray starts is: the section, the few-shot data, the source (resolved,
pinned to the version it names now, and loaded once), its family and shape for the method.
"""
from __future__ import annotations

from typing import List, Optional

import typer

from ganforge.commands import fail, load_spec_or_exit


def checked_spec(spec):
    """``spec`` with its source pinned (models:/name/latest -> models:/name/3, a path made absolute),
    after every check that needs no Ray; raises ValueError with one line saying what to fix."""
    from ganforge.data import build_dataset
    from ganforge.tasks.adapt import AdaptTask, check_shapes, source_weights
    from ganforge.train.preflight import check_training_inputs

    if spec.adapt is None:
        raise ValueError("the spec has no adapt: section; add adapt: {source: models:/NAME/latest, method: bsa} "
                         "(methods: bsa, finetune, freezed; see jobs/adapt/)")
    if spec.task != "adapt":
        raise ValueError(f"the spec says task: {spec.task} but has an adapt: section; remove task (adapt is implied)")
    if spec.model != type(spec.model)():  # anything but the defaults: a user's model section
        raise ValueError("adapt: the architecture is the source's; remove the model: section")
    check_training_inputs(spec)
    try:
        weights = source_weights(spec)
    except ValueError as err:  # SourceError / AdaptSourceError / the method's refusal
        raise ValueError(f"adapt.source: {err}") from None
    check_shapes(weights.meta, AdaptTask().meta(build_dataset(spec.data)))
    return spec.model_copy(update={"adapt": spec.adapt.model_copy(update={"source": weights.pinned})})


def adapt(
    spec_path: str = typer.Argument(..., metavar="SPEC", help="adaptation spec (YAML), e.g. jobs/adapt/bsa-sngan-faces.yaml"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key: --set adapt.source=models:/NAME/2"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Ray Train workers (scaling.workers)"),
    resume: Optional[str] = typer.Option(None, "--resume", help="MLflow run id or checkpoint directory to continue"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: RAY_ADDRESS or a local instance)"),
    verbose: bool = typer.Option(False, "--verbose", help="show Ray's and MLflow's own logs and the workers' output"),
) -> None:
    """Adapt a trained generator to a few images: bsa, finetune or freezed."""
    from ganforge.commands.train import train_and_report

    spec = load_spec_or_exit(spec_path, set_, workers)
    try:
        spec = checked_spec(spec)
    except (ValueError, KeyError) as err:  # PreflightError, DataError and registry lookups too
        fail(str(err.args[0]) if isinstance(err, KeyError) else str(err))
    train_and_report(spec, "adapt", spec_path, set_, workers, address, resume, verbose)


def register(app: typer.Typer) -> None:
    app.command()(adapt)
