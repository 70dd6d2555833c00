"""Checks the driver makes before Ray starts and before an MLflow run exists: every input that is
cheap to check (the spec is validated on loading; here the data and the generator a model starts
from), so bad input costs no start-up and leaves nothing half-done."""
from __future__ import annotations


class PreflightError(ValueError):
    """An input is wrong; the message names it and the fix."""


def check_training_inputs(spec) -> None:
    """Raise PreflightError when the spec's data cannot be read (missing, empty, unreadable), or
    its ``model.init_from`` names no generator."""
    from ganforge.data import check_data

    try:
        check_data(spec.data)
    except ValueError as err:  # DataError and the registry's unknown-name errors
        raise PreflightError(str(err)) from None
    if spec.model.init_from:
        from ganforge.sampling import check_source
        from ganforge.tracking import resolve_tracking_uri

        try:
            check_source(spec.model.init_from, resolve_tracking_uri(spec))
        except ValueError as err:  # SourceError: what the source is not, and the forms it may take
            raise PreflightError(f"model.init_from: {err}") from None
