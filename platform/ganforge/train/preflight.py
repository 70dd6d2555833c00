"""Checks the driver makes before Ray starts and before an MLflow run exists: every input that is
cheap to check (the spec is validated on loading; here the data), so bad input costs no start-up
and leaves nothing half-done."""
from __future__ import annotations


class PreflightError(ValueError):
    """An input is wrong; the message names it and the fix."""


def check_training_inputs(spec) -> None:
    """Raise PreflightError when the spec's data cannot be read (missing, empty, unreadable)."""
    from ganforge.data import check_data

    try:
        check_data(spec.data)
    except ValueError as err:  # DataError and the registry's unknown-name errors
        raise PreflightError(str(err)) from None
