"""The study document (``jobs/studies/NAME.yaml``), validated with pydantic before Ray starts::

    name: augmentation
    base: {data: ..., model: ...}        # an inline spec, or a spec path (relative to this file or cwd)
    variants:                            # named variants: dotted spec keys -> values
      - {name: none, set: {}}
      - {name: blur, set: {augment.preset: blur}}
    grid: {loss.name: [hinge, wgan]}     # optional: crossed with the variants (or on its own)
    repeats: 2                           # seeds 0..n-1, or a list of train.seed values
    at: [100, 200]                       # steps each variant is evaluated at (train.steps = max)
    metrics: [domain-digits.fid]         # reported keys; the first is the Tune metric
    mode: min
    max_concurrent: 1
    resources: {workers: 1, cpus_per_worker: 1}

:func:`load_study` returns a :class:`Study` whose ``variants`` are expanded and whose every
variant spec has been validated; any problem is a :class:`StudyError`, one line per problem.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ganforge.config import ExperimentSpec, SpecError, spec_from_dict
from ganforge.documents import apply_overrides, read_yaml
from ganforge.tune.space import SearchSpaceError, apply_params

STEP_METRICS = ("g_loss", "d_loss")  # reported at every step, whatever eval says


class StudyError(ValueError):
    """A study document that cannot run; one line per problem, naming the key and the fix."""


class VariantDoc(BaseModel):
    """One named variant: the dotted spec keys it sets on the base."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, description="the variant's row label in the table")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted spec keys -> values")


class StudyDoc(BaseModel):
    """The study YAML as written (before expansion)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    base: str | dict[str, Any]
    variants: list[VariantDoc] = Field(default_factory=list)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    repeats: int | list[int] = 1
    at: list[int]
    metrics: list[str] = Field(..., min_length=1)
    mode: Literal["min", "max"] = "min"
    max_concurrent: int = Field(1, ge=1)
    resources: dict[str, int] = Field(default_factory=lambda: {"workers": 1, "cpus_per_worker": 1})

    @field_validator("at")
    @classmethod
    def _at(cls, value: list[int]) -> list[int]:
        if not value or any(v < 1 for v in value):
            raise ValueError("a non-empty list of positive training steps, e.g. at: [100, 200]")
        return sorted(set(value))

    @field_validator("repeats")
    @classmethod
    def _repeats(cls, value):
        if isinstance(value, int) and value < 1 or isinstance(value, list) and not value:
            raise ValueError("a positive count of seeds (repeats: 2) or a list of train.seed values (repeats: [0, 7])")
        return value

    @field_validator("grid")
    @classmethod
    def _grid(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [key for key, values in value.items() if not values]
        if empty:
            raise ValueError(f"axis {empty[0]!r} has no values; give it a list, e.g. {empty[0]}: [a, b]")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) - {"workers", "cpus_per_worker"}:
            raise ValueError("only workers and cpus_per_worker (per trial)")
        return value


@dataclass
class Study:
    """A validated study: the base document, the expanded variants and the evaluation plan."""

    name: str
    base: dict[str, Any]
    variants: dict[str, dict[str, Any]]  # name -> dotted params (in table order)
    seeds: list[int]
    at: list[int]
    metrics: list[str]
    mode: str
    max_concurrent: int
    resources: dict[str, int]

    @property
    def every(self) -> int:
        """The evaluation/checkpoint interval that lands on every ``at`` step."""
        return reduce(math.gcd, self.at)

    def to_dict(self) -> dict[str, Any]:
        """What the parent MLflow run keeps (``study.json``): enough to rebuild the report."""
        return {"name": self.name, "variants": self.variants, "seeds": self.seeds, "at": self.at,
                "metrics": self.metrics, "mode": self.mode}


def _format(err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key; valid keys: " + ", ".join(StudyDoc.model_fields)
        lines.append(f"study {key}: {message}")
    return "\n".join(lines)


def _read_base(base: str | dict, folder: Path | None) -> dict[str, Any]:
    if isinstance(base, dict):
        return dict(base)
    candidates = [Path(base)] + ([folder / base] if folder is not None else [])
    for path in candidates:
        if path.is_file():
            return read_yaml(path)
    raise StudyError(f"study base: spec file {base!r} not found (relative to the working directory or the study file)")


def expand(variants: list[VariantDoc], grid: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Named variants crossed with the grid's axes (each alone when the other is empty)."""
    named = [(v.name, dict(v.set)) for v in variants] or [("", {})]
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
    expanded: dict[str, dict[str, Any]] = {}
    for (label, params), combo in itertools.product(named, combos):
        cell = ", ".join(f"{k}={v}" for k, v in zip(keys, combo))
        name = " / ".join(part for part in (label, cell) if part)
        if name in expanded:
            raise StudyError(f"study variants: the name {name!r} appears twice; give each variant its own name")
        expanded[name] = {**params, **dict(zip(keys, combo))}
    return expanded


def _planned(spec: ExperimentSpec) -> list[str]:
    from ganforge.tasks import task_of

    return list(task_of(spec).planned_keys(spec)) + list(STEP_METRICS)


def plan_document(base: dict[str, Any], study: "Study") -> dict[str, Any]:
    """The base with the study's schedule: train to max(at), evaluate, checkpoint and sample on gcd(at)."""
    document = apply_params(base, {"train.steps": max(study.at), "train.checkpoint_every": study.every,
                                   "eval.every": study.every, "train.sample_every": study.every})
    document["name"] = f"study-{study.name}"  # its own Tune pointer (--resume), whatever the base is called
    return document


def _check_variants(study: Study) -> list[str]:
    """Every variant's spec must validate and report every metric; one line per problem."""
    problems, missing, reported = [], {}, {}
    base = plan_document(study.base, study)
    for name, params in study.variants.items():
        try:
            spec = spec_from_dict(apply_params(base, {**params, "train.seed": study.seeds[0]}), source=f"variant {name!r}")
        except (SpecError, SearchSpaceError, KeyError, ValueError) as err:
            problems.append(f"study variants: {err}")
            continue
        keys = _planned(spec)
        for metric in study.metrics:
            if metric not in keys:
                missing.setdefault(metric, []).append(name)
                reported[metric] = keys
    for metric, names in missing.items():
        problems.append(f"study metrics: {metric!r} is not reported by variant(s) {', '.join(names)}; reported keys: "
                        f"{', '.join(reported[metric])} (write one of them, or add the metric to base eval.metrics)")
    return problems


def parse_study(document: dict[str, Any], overrides: list[str] | None = None, folder: Path | None = None) -> Study:
    """Validate a study mapping; ``overrides`` (``--set key=value``) apply to the base spec."""
    try:
        doc = StudyDoc(**document)
    except ValidationError as err:
        raise StudyError(_format(err)) from None
    if not doc.variants and not doc.grid:
        raise StudyError("study: no axes to vary; add variants: [{name: a, set: {...}}, ...] or grid: {key: [values]}")
    try:
        base = apply_overrides(_read_base(doc.base, folder), overrides or [])
    except SpecError as err:
        raise StudyError(f"study base: {err}") from None
    seeds = list(range(doc.repeats)) if isinstance(doc.repeats, int) else list(doc.repeats)
    study = Study(doc.name, base, expand(doc.variants, doc.grid), seeds, doc.at, doc.metrics, doc.mode,
                  doc.max_concurrent, dict(doc.resources))
    problems = _check_variants(study)
    if problems:
        raise StudyError("\n".join(problems))
    return study


def load_study(path: str | Path, overrides: list[str] | None = None) -> Study:
    """Read and validate ``jobs/studies/NAME.yaml``."""
    try:
        document = read_yaml(path)
    except SpecError as err:
        raise StudyError(str(err)) from None
    document.setdefault("name", Path(path).stem)
    return parse_study(document, overrides, Path(path).parent)
