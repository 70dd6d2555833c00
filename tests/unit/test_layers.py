"""Lower layers never import higher ones (docs/architecture.md, Layers): data, augment, metrics,
losses and models import nothing of train/, tune/, commands/, cli or serving at module level."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "platform" / "ganforge"
LOWER = ("data", "augment", "metrics", "losses", "models")
HIGHER = ("ganforge.train", "ganforge.tune", "ganforge.commands", "ganforge.cli", "serving")


def module_level_imports(path: Path) -> list[str]:
    """Modules imported by the file's top-level statements (function bodies are lazy, not layering)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("layer", LOWER)
def test_lower_layers_do_not_import_higher_ones(layer):
    offending = {str(path.relative_to(PACKAGE)): name for path in (PACKAGE / layer).rglob("*.py")
                 for name in module_level_imports(path) if name.startswith(HIGHER)}
    assert not offending, offending
