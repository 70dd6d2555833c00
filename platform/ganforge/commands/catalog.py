"""``ganforge models|datasets|losses|tasks``: list what is registered, one line each."""
from __future__ import annotations

import typer


def _first_line(entry) -> str:
    return ((entry.__doc__ or "").strip().splitlines() or [""])[0]


def _listing(registry) -> None:
    width = max(len(name) for name in registry.names())
    for name, entry in registry.items():
        typer.echo(f"{name:<{width}}  {_first_line(entry)}")


def models() -> None:
    """List the registered model families."""
    from ganforge.models import MODELS

    _listing(MODELS)


def datasets() -> None:
    """List the registered data sets."""
    from ganforge.data import DATASETS

    _listing(DATASETS)


def losses() -> None:
    """List the registered adversarial losses and regularizers."""
    from ganforge.losses import LOSSES, REGULARIZERS

    _listing(LOSSES)
    typer.echo("\nregularizers:")
    _listing(REGULARIZERS)


def tasks() -> None:
    """List the registered tasks (what a spec's `task:` can learn)."""
    from ganforge.tasks import TASKS

    _listing(TASKS)


def register(app: typer.Typer) -> None:
    for command in (models, datasets, losses, tasks):
        app.command()(command)
