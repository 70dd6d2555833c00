"""The study document (``jobs/studies/NAME.yaml``), validated with pydantic before Ray starts::

    name: augmentation
    base: {data: ..., model: ...}        # an inline spec, or a spec path (relative to this file or cwd)
    set: {eval.n: 500}                   # dotted keys on the base and every variant's own spec (as --set)
    variants:                            # named variants: dotted spec keys -> values
      - {name: none, set: {}}
      - {name: blur, set: {augment.preset: blur}}
      - {name: bsa, spec: ../adapt/bsa-sngan-faces.yaml}   # a full spec in place of base (path or inline)
    grid: {loss.name: [hinge, wgan]}     # optional: crossed with the variants (or on its own)
    repeats: 2                           # seeds 0..n-1, or a list of train.seed values
    at: [100, 200]                       # steps each variant is evaluated at (train.steps = max)
    metrics: [domain-digits.fid]         # reported keys; the first is the Tune metric
    mode: min
    max_concurrent: 1
    resources: {workers: 1, cpus_per_worker: 1}
    real_data_tables: [is_sample_size]   # tables of the real data alone (study/real_tables.py)
    table_per: data.name                 # one table per value of this key (e.g. per target data set)

A variant with its own ``spec`` (e.g. a ``ganforge adapt`` spec: it then runs as an adaptation
trial) replaces the base for that variant; ``set`` and ``--set`` apply on top. ``base`` may be
left out when every variant has a spec.

:func:`load_study` returns a :class:`Study` whose ``variants`` are expanded and whose every
variant spec has been validated; any problem is a :class:`StudyError`, one line per problem.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
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
    name: str = Field(..., min_length=1, pattern=r"^[^'`]+$", description="the variant's row label in the table (no quotes)")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted spec keys -> values")
    spec: str | dict[str, Any] | None = Field(
        None, description="a full spec for this variant in place of base: a path (relative to the study file or cwd) "
                          "or an inline document, e.g. a ganforge adapt spec")


class StudyDoc(BaseModel):
    """The study YAML as written (before expansion)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    base: str | dict[str, Any] | None = None
    variants: list[VariantDoc] = Field(default_factory=list)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    set: dict[str, Any] = Field(default_factory=dict)
    repeats: int | list[int] = 1
    at: list[int]
    metrics: list[str] = Field(..., min_length=1)
    mode: Literal["min", "max"] = "min"
    max_concurrent: int = Field(1, ge=1)
    resources: dict[str, int] = Field(default_factory=lambda: {"workers": 1, "cpus_per_worker": 1})
    real_data_tables: list[str] = Field(default_factory=list)
    table_per: str | None = None

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

    @field_validator("real_data_tables")
    @classmethod
    def _real_tables(cls, value: list[str]) -> list[str]:
        from ganforge.study.real_tables import REAL_TABLES

        unknown = [name for name in value if name not in REAL_TABLES]
        if unknown:
            raise ValueError(f"unknown table {unknown[0]!r}; valid: {', '.join(REAL_TABLES.names())}")
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
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> its own spec (in place of base)
    real_tables: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)  # name -> its table (table_per's value); empty: one table

    def document(self, name: str) -> dict[str, Any]:
        """The spec document variant ``name`` starts from: its own, else the base."""
        return self.documents.get(name, self.base)

    @property
    def every(self) -> int:
        """The evaluation/checkpoint interval that lands on every ``at`` step."""
        return reduce(math.gcd, self.at)

    def to_dict(self) -> dict[str, Any]:
        """What the parent MLflow run keeps (``study.json``): enough to rebuild the report."""
        return {"name": self.name, "variants": self.variants, "seeds": self.seeds, "at": self.at,
                "metrics": self.metrics, "mode": self.mode, "documents": self.documents,
                "real_tables": self.real_tables, "groups": self.groups}

    def plan(self) -> dict[str, Any]:
        """What must not change between a study and its ``--resume``: the table's rows, seeds and columns."""
        return {key: self.to_dict()[key] for key in ("variants", "seeds", "at", "metrics")}


def _format(err: ValidationError) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key; valid keys: " + ", ".join(StudyDoc.model_fields)
        lines.append(f"study {key}: {message}")
    return "\n".join(lines)


def _read_base(base: str | dict, folder: Path | None, what: str = "study base") -> dict[str, Any]:
    """A spec document given inline or as a path (relative to the working directory or ``folder``)."""
    if isinstance(base, dict):
        return dict(base)
    candidates = [Path(base)] + ([folder / base] if folder is not None else [])
    for path in candidates:
        if path.is_file():
            return read_yaml(path)
    raise StudyError(f"{what}: spec file {base!r} not found (relative to the working directory or the study file)")


def expansion(variants: list[VariantDoc], grid: dict[str, list[Any]]) -> list[tuple[str, VariantDoc | None, dict[str, Any]]]:
    """(name, the named variant it came from, dotted params) for every variant x grid cell."""
    named = list(variants) or [None]
    keys = list(grid)
    combos = list(itertools.product(*(grid[k] for k in keys))) if keys else [()]
    out, seen = [], set()
    for variant, combo in itertools.product(named, combos):
        cell = ", ".join(f"{k}={v}" for k, v in zip(keys, combo))
        name = " / ".join(part for part in (variant.name if variant else "", cell) if part)
        if name in seen:
            raise StudyError(f"study variants: the name {name!r} appears twice; give each variant its own name")
        seen.add(name)
        out.append((name, variant, {**(variant.set if variant else {}), **dict(zip(keys, combo))}))
    return out


def expand(variants: list[VariantDoc], grid: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """Named variants crossed with the grid's axes (each alone when the other is empty)."""
    return {name: params for name, _, params in expansion(variants, grid)}


def _documents(doc: StudyDoc, overrides: list[str], folder: Path | None) -> tuple[dict, dict[str, dict]]:
    """The base document and each own-spec variant's (by expanded name); the study's ``set`` and
    then ``--set`` apply to all."""
    def read(source, what: str) -> dict[str, Any]:
        return apply_overrides(apply_params(_read_base(source, folder, what), doc.set), overrides)

    own = {v.name: read(v.spec, f"study variant {v.name!r} spec") for v in doc.variants if v.spec is not None}
    if doc.base is None:
        lacking = [v.name for v in doc.variants if v.spec is None]
        if lacking or not own:
            raise StudyError(f"study base: missing; give base: (a spec path or document) or a spec: for every variant "
                             f"(without one: {', '.join(lacking) or 'all'})")
        base = next(iter(own.values()))  # the search's own settings (storage, tracking) come from the first
    else:
        base = read(doc.base, "study base")
    documents = {name: own[variant.name] for name, variant, _ in expansion(doc.variants, doc.grid)
                 if variant is not None and variant.name in own}
    return base, documents


def _planned(spec: ExperimentSpec) -> list[str]:
    from ganforge.tasks import task_of

    return list(task_of(spec).planned_keys(spec)) + list(STEP_METRICS)


def schedule(study: "Study") -> dict[str, int]:
    """The study's schedule: train to max(at), evaluate, checkpoint and sample on gcd(at)."""
    return {"train.steps": max(study.at), "train.checkpoint_every": study.every,
            "eval.every": study.every, "train.sample_every": study.every}


def plan_document(base: dict[str, Any], study: "Study") -> dict[str, Any]:
    """The base with the study's schedule."""
    document = apply_params(base, schedule(study))
    document["name"] = f"study-{study.name}"  # its own Tune pointer (--resume), whatever the base is called
    return document


def scheduled_variants(study: "Study") -> dict[str, dict[str, Any]]:
    """Each variant's dotted keys with the schedule on top, as its trial applies them: a variant
    that sets a whole section (``eval: {...}``) still evaluates on every ``at`` step."""
    return {name: {**params, **schedule(study)} for name, params in study.variants.items()}


def variant_document(study: "Study", name: str) -> dict[str, Any]:
    """The document variant ``name`` trains from, on the study's schedule. A variant with its own
    spec logs into the base's MLflow experiment: its child runs sit beside their parent run."""
    document = plan_document(study.document(name), study)
    if name in study.documents:
        tracking = document.setdefault("tracking", {})
        tracking.pop("experiment", None)
        experiment = (study.base.get("tracking") or {}).get("experiment")
        if experiment:
            tracking["experiment"] = experiment
    return document


def _check_variants(study: Study) -> list[str]:
    """Every variant's spec must validate and report every metric; one line per problem."""
    problems, missing, reported = [], {}, {}
    for name, params in scheduled_variants(study).items():
        try:
            document = variant_document(study, name)
            spec = spec_from_dict(apply_params(document, {**params, "train.seed": study.seeds[0]}), source=f"variant {name!r}")
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
    """Validate a study mapping; ``overrides`` (``--set key=value``) apply to the base spec
    and to every variant's own spec."""
    try:
        doc = StudyDoc(**document)
    except ValidationError as err:
        raise StudyError(_format(err)) from None
    if not doc.variants and not doc.grid:
        raise StudyError("study: no axes to vary; add variants: [{name: a, set: {...}}, ...] or grid: {key: [values]}")
    try:
        base, documents = _documents(doc, overrides or [], folder)
    except (SpecError, SearchSpaceError) as err:
        raise StudyError(f"study base: {err}") from None
    seeds = list(range(doc.repeats)) if isinstance(doc.repeats, int) else list(doc.repeats)
    study = Study(doc.name, base, expand(doc.variants, doc.grid), seeds, doc.at, doc.metrics, doc.mode,
                  doc.max_concurrent, dict(doc.resources), documents, list(doc.real_data_tables))
    problems = _check_variants(study)
    if problems:
        raise StudyError("\n".join(problems))
    if doc.table_per:
        study.groups = {name: f"{doc.table_per}={_value(variant_document(study, name), params, doc.table_per)}"
                        for name, params in study.variants.items()}
    return study


def _value(document: dict[str, Any], params: dict[str, Any], key: str) -> Any:
    """The value of dotted ``key`` for a variant: its own params, else its document's (filled-in) spec."""
    if key in params:
        return params[key]
    value: Any = spec_from_dict(apply_params(document, params)).to_dict()
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise StudyError(f"study table_per: {key!r} is not a spec key; give a dotted key such as data.name")
        value = value[part]
    return value


def load_study(path: str | Path, overrides: list[str] | None = None) -> Study:
    """Read and validate ``jobs/studies/NAME.yaml``."""
    try:
        document = read_yaml(path)
    except SpecError as err:
        raise StudyError(str(err)) from None
    document.setdefault("name", Path(path).stem)
    return parse_study(document, overrides, Path(path).parent)
