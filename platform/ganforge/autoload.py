"""Import every module of a package so that their registry decorators run.

Each registry-owning package (models, losses, data, ...) calls ``import_submodules(__name__)``
at the end of its ``__init__``: adding an entry is then one new file, with no list to edit.
"""
from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package_name: str) -> None:
    """Import all direct submodules of ``package_name`` (skipping private ones)."""
    package = importlib.import_module(package_name)
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package_name}.{module.name}")
