"""Plain nested-dict helpers under the spec: reading a YAML document, ``--set a.b=c``
overrides, dotted keys, merging and flattening. No pydantic here; config.py validates."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml


class SpecError(ValueError):
    """A spec that cannot be used; the message says which key and how to fix it."""


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.g.lr=1e-4"`` -> (["optim", "g", "lr"], 1e-4); the value is read as YAML."""
    if "=" not in text:
        raise SpecError(f"--set {text!r}: expected KEY=VALUE, e.g. --set train.steps=200")
    key, raw = text.split("=", 1)
    if not key.strip():
        raise SpecError(f"--set {text!r}: empty key")
    return key.strip().split("."), yaml.safe_load(raw) if raw.strip() else ""


def apply_overrides(document: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``document`` with each ``a.b=c`` override set (creating sections as needed)."""
    result = copy.deepcopy(document)
    for text in overrides:
        path, value = parse_override(text)
        try:
            set_dotted(result, ".".join(path), value)
        except NotASectionError as err:
            raise SpecError(f"--set {text!r}: {err.part!r} is not a section") from None
    return result


class NotASectionError(SpecError):
    """A dotted key walks through a value that is not a section (a dict)."""

    def __init__(self, part: str):
        super().__init__(f"{part!r} is not a section")
        self.part = part


def set_dotted(document: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set ``a.b.c`` in a nested dict in place, creating sections; returns the dict."""
    parts = key.split(".")
    node = document
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise NotASectionError(part)
        node = child
    node[parts[-1]] = value
    return document


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The YAML mapping in ``path``; a missing file or non-mapping is a SpecError."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SpecError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(document, dict):
        raise SpecError(f"{path} must hold a mapping of sections (data:, model:, ...), not {type(document).__name__}")
    return document


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated recursively by ``override`` (override wins; inputs are not modified)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def under_recommendations(recommended: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """``document`` filled in with ``recommended`` where it says nothing (document wins).

    A section the document names differently (``schedule: {name: cosine}`` under a recommended
    ``{name: constant-linear, options: {...}}``) is the document's alone: the recommendation's
    options belong to another entry."""
    merged = copy.deepcopy(document)
    for key, value in recommended.items():
        mine = merged.get(key)
        if key not in merged:
            merged[key] = copy.deepcopy(value)
        elif isinstance(value, dict) and isinstance(mine, dict) and _same_entry(value, mine):
            merged[key] = under_recommendations(value, mine)
    return merged


def _same_entry(recommended: dict[str, Any], mine: dict[str, Any]) -> bool:
    """The document's section is the entry the recommendation is for (or it names none)."""
    return "name" not in recommended or mine.get("name", recommended["name"]) == recommended["name"]


def flatten(document: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: the spec as MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in document.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
