"""One module per ``ganforge`` command group; each defines ``register(app: typer.Typer)``."""
import typer

from ganforge.config import SpecError, load_spec


def fail(message: str, code: int = 2) -> None:
    """Print an error for the user (no traceback) and exit."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def load_spec_or_exit(path: str, overrides: list[str] | None, workers: int | None = None):
    """load_spec with --set overrides (and --workers), turning spec errors into a clean exit."""
    overrides = list(overrides or [])
    if workers is not None:
        overrides.append(f"scaling.workers={workers}")
    try:
        return load_spec(path, overrides)
    except SpecError as err:
        fail(str(err))
    except (KeyError, ValueError) as err:  # registry lookups outside validation
        fail(str(err))
