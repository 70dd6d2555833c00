"""The ``ganforge`` command. Thin: each command module parses its arguments and calls the library.

Command modules live in ``ganforge.commands``; each exposes ``register(app)``. They are found
automatically, so adding a command is one new file.
"""
from __future__ import annotations

import importlib
import pkgutil

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Train, compare, tune, evaluate and serve GANs from one experiment spec.")


def _register_commands() -> None:
    import ganforge.commands as commands

    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not module.name.startswith("_"):
            importlib.import_module(f"ganforge.commands.{module.name}").register(app)


def main() -> None:
    """Console-script entry point."""
    _register_commands()
    app()


if __name__ == "__main__":
    main()
