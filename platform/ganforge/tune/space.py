"""The ``search:`` section of a spec: a validated search space, metric, scheduler and budget.

A spec's ``search`` is a plain dict (``ExperimentSpec.search``); :func:`parse_search` turns it
into a :class:`SearchConfig` or raises :class:`SearchSpaceError` naming the key at fault::

    search:
      space:
        optim.g.lr: loguniform(1e-5, 1e-3)      # any dotted spec key
        optim.g.name: choice(adam, rmsprop, sgd, nesterov)
        train.seed: randint(0, 100)
        loss.name: grid(non-saturating, hinge)
      metric: domain-digits.fid   # a key the training loop reports (fid with Inception, g_loss, ...)
      mode: min
      scheduler: asha        # asha | pbt | none, or {name: asha, grace_period: 1, reduction_factor: 2}
      num_samples: 4
      max_concurrent: 1
      resources: {workers: 1, cpus_per_worker: 1}   # per trial (the spec's scaling section)
      truncation: [0.5, 1.0, 1.5, 2.0]                # thresholds swept for the best trial

Distributions: ``uniform(lo, hi)``, ``loguniform(lo, hi)``, ``randint(lo, hi)`` (hi exclusive),
``choice(a, b, ...)`` and ``grid(a, b, ...)``; arguments are read as YAML scalars. Every
candidate value is checked against the spec (a choice of an unknown optimizer fails here, not
in trial 3).
"""
from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from ganforge.config import ExperimentSpec, SpecError, spec_from_dict
from ganforge.documents import NotASectionError
from ganforge.documents import set_dotted as config_set_dotted

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice", "grid")
SCHEDULERS = ("asha", "pbt", "none")
SEARCH_KEYS = {"space", "metric", "mode", "scheduler", "num_samples", "max_concurrent", "resources", "truncation"}
STEP_METRICS = ("d_loss", "g_loss", "step")  # in every report of the training loop
INTERVAL_METRICS = ("lr_g", "lr_d", "images_per_s")  # in reports on log_every boundaries
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$", re.S)


class SearchSpaceError(ValueError):
    """A ``search:`` section that cannot be used; the message names the key and the fix."""


@dataclass(frozen=True)
class Dimension:
    """One searched spec key: its distribution and arguments."""

    key: str
    kind: str
    args: tuple

    def to_tune(self):
        """The Ray Tune domain (or grid_search dict) for this dimension."""
        from ray import tune

        if self.kind == "grid":
            return tune.grid_search(list(self.args))
        if self.kind == "choice":
            return tune.choice(list(self.args))
        return getattr(tune, self.kind)(*self.args)

    @property
    def numeric(self) -> bool:
        """A dimension PBT can mutate: a range, or a choice/grid of numbers."""
        if self.kind in ("uniform", "loguniform", "randint"):
            return True
        return all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in self.args)

    def mutation(self):
        """What PBT perturbs this dimension with: the domain, or the list of values of a grid."""
        return sorted(self.args) if self.kind == "grid" else self.to_tune()

    def candidates(self) -> list:
        """Values to check against the spec: every choice, or the bounds of a range."""
        if self.kind in ("choice", "grid"):
            return list(self.args)
        if self.kind == "randint":
            return [self.args[0], self.args[1] - 1]
        return list(self.args)


@dataclass
class SearchConfig:
    """A parsed, validated ``search:`` section."""

    dimensions: list[Dimension]
    metric: str
    mode: str
    scheduler: str = "asha"
    scheduler_options: dict[str, Any] = field(default_factory=dict)
    num_samples: int = 1
    max_concurrent: int = 1
    resources: dict[str, Any] = field(default_factory=dict)
    truncation: list[float | None] = field(default_factory=list)

    def param_space(self) -> dict[str, Any]:
        """Ray Tune's ``param_space``: flat dotted keys -> domains."""
        return {d.key: d.to_tune() for d in self.dimensions}


def _scalar(text: str) -> Any:
    text = text.strip()
    if not text:
        raise ValueError("empty argument")
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-5 (no dot) as a string
        except ValueError:
            return value
    return value


def parse_distribution(key: str, text: Any) -> Dimension:
    """``"loguniform(1e-5, 1e-3)"`` -> Dimension; a plain list means choice."""
    if isinstance(text, list):
        if not text:
            raise SearchSpaceError(f"search.space.{key}: an empty list has nothing to choose from")
        return Dimension(key, "choice", tuple(text))
    match = _CALL.match(text) if isinstance(text, str) else None
    if match is None:
        raise SearchSpaceError(f"search.space.{key}: {text!r} is not a distribution; write one of "
                               f"{', '.join(d + '(...)' for d in DISTRIBUTIONS)}, e.g. loguniform(1e-5, 1e-3)")
    kind, raw = match.group(1).lower(), match.group(2)
    if kind not in DISTRIBUTIONS:
        raise SearchSpaceError(f"search.space.{key}: unknown distribution {match.group(1)!r}; "
                               f"valid: {', '.join(DISTRIBUTIONS)}")
    try:
        args = tuple(_scalar(part) for part in raw.split(","))
    except (ValueError, yaml.YAMLError) as err:
        raise SearchSpaceError(f"search.space.{key}: cannot read the arguments of {text!r} ({err})") from None
    _check_args(key, kind, args)
    return Dimension(key, kind, args)


def _check_args(key: str, kind: str, args: tuple) -> None:
    where = f"search.space.{key}: {kind}"
    if kind in ("choice", "grid"):
        if not args:
            raise SearchSpaceError(f"{where}() needs at least one value")
        return
    if len(args) != 2:
        raise SearchSpaceError(f"{where} takes exactly two arguments (low, high), got {len(args)}")
    low, high = args
    numeric = (int,) if kind == "randint" else (int, float)
    if not all(isinstance(a, numeric) and not isinstance(a, bool) for a in args):
        wanted = "integers" if kind == "randint" else "numbers"
        raise SearchSpaceError(f"{where}({low}, {high}): bounds must be {wanted}")
    if not low < high:
        raise SearchSpaceError(f"{where}({low}, {high}): low must be below high")
    if kind == "loguniform" and low <= 0:
        raise SearchSpaceError(f"{where}({low}, {high}): bounds must be > 0 (log scale)")


def set_dotted(document: dict, key: str, value: Any) -> dict:
    """documents.set_dotted, with the error phrased for a search-space key."""
    try:
        return config_set_dotted(document, key, value)
    except NotASectionError as err:
        raise SearchSpaceError(f"search.space.{key}: {err.part!r} is not a section of the spec") from None


def apply_params(base: dict, params: dict[str, Any]) -> dict:
    """A copy of the spec dict ``base`` with each dotted ``params`` key set (search removed)."""
    document = copy.deepcopy(base)
    document["search"] = None
    for key, value in params.items():
        set_dotted(document, key, value)
    return document


def _check_key(spec: ExperimentSpec, key: str) -> None:
    """The dotted key must name a field (or an options dict entry) of the spec."""
    node: Any = spec
    for i, part in enumerate(key.split(".")):
        if isinstance(node, dict):
            return  # free-form options dicts: validated by the value check
        fields = getattr(type(node), "model_fields", None)
        if fields is None or part not in fields:
            valid = ", ".join(fields) if fields else "(not a section)"
            raise SearchSpaceError(f"search.space.{key}: {part!r} is not a spec key; valid keys here: {valid}")
        if part == "search":
            raise SearchSpaceError(f"search.space.{key}: the search section cannot search itself")
        node = getattr(node, part)


def _check_values(base: dict, dim: Dimension) -> None:
    for value in dim.candidates():
        try:
            spec_from_dict(apply_params(base, {dim.key: value}), source=f"search.space.{dim.key}={value!r}")
        except SpecError as err:
            raise SearchSpaceError(str(err)) from None


def _scheduler(raw: Any) -> tuple[str, dict]:
    if raw is None:
        return "none", {}
    if isinstance(raw, str):
        name, options = raw, {}
    elif isinstance(raw, dict) and "name" in raw:
        options = dict(raw)
        name = options.pop("name")
    else:
        raise SearchSpaceError(f"search.scheduler: write asha, pbt or none, or {{name: asha, ...}}; got {raw!r}")
    name = str(name).lower()
    if name not in SCHEDULERS:
        raise SearchSpaceError(f"search.scheduler: unknown scheduler {name!r}; valid: {', '.join(SCHEDULERS)}")
    _check_scheduler_options(name, options)
    return name, options


def scheduler_class(name: str):
    """The Ray Tune scheduler class behind ``search.scheduler`` ``asha`` or ``pbt``."""
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    return {"asha": ASHAScheduler, "pbt": PopulationBasedTraining}[name]


def _check_scheduler_options(name: str, options: dict) -> None:
    """Options must be keyword arguments of the Ray Tune scheduler (ours set time_attr and the space)."""
    if name == "none":
        if options:
            raise SearchSpaceError(f"search.scheduler none: takes no options, got {sorted(options)}")
        return
    import inspect

    ours = {"self", "time_attr", "metric", "mode", "hyperparam_mutations"}
    valid = set(inspect.signature(scheduler_class(name).__init__).parameters) - ours
    unknown = sorted(set(options) - valid)
    if unknown:
        raise SearchSpaceError(f"search.scheduler {name}: unknown option(s) {unknown}; valid: {', '.join(sorted(valid))}")


def _positive_int(section: dict, key: str, default: int) -> int:
    value = section.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SearchSpaceError(f"search.{key}: must be a positive integer, got {value!r}")
    return value


def _truncation(raw: Any) -> list[float | None]:
    values = raw or []
    if not isinstance(values, list) or not all(v is None or (isinstance(v, (int, float)) and v > 0) for v in values):
        raise SearchSpaceError(f"search.truncation: a list of thresholds > 0 (null: no truncation), got {raw!r}")
    return [None if v is None else float(v) for v in values]


def _eval_keys(spec: ExperimentSpec) -> list[str]:
    """The keys periodic evaluation reports for ``spec.eval`` (names carry the extractor), before any work."""
    from ganforge.tasks import task_of

    try:
        return task_of(spec).planned_keys(spec)
    except KeyError as err:  # unknown metric or extractor name, listing the valid ones
        raise SearchSpaceError(f"eval: {err.args[0]}") from None
    except ValueError as err:
        raise SearchSpaceError(f"eval: {err}") from None


def _check_metric(spec: ExperimentSpec, metric: str) -> None:
    """An eval metric must be reported with every Tune iteration (each checkpoint_every), by that name.

    Evaluation keys say their feature network (``fid`` is the standard Inception's,
    ``domain-digits.fid`` the digits classifier's). A metric named for another network than
    ``eval.extractor`` is refused with the right key rather than mapped to it: mapped, the search's
    table, ``best_<metric>`` and the MLflow keys would all differ from what the spec says, and a
    ``fid`` that is not an Inception FID is exactly the confusion the names exist to prevent.
    """
    from ganforge.metrics.names import base_key

    if metric in STEP_METRICS:
        return
    if metric in INTERVAL_METRICS:
        if spec.train.checkpoint_every % spec.train.log_every:
            raise SearchSpaceError(f"search.metric {metric!r}: reaches Tune only when train.log_every divides "
                                   f"train.checkpoint_every (now {spec.train.log_every} and {spec.train.checkpoint_every})")
        return
    if not spec.eval.every or spec.train.checkpoint_every % spec.eval.every:
        raise SearchSpaceError(
            f"search.metric {metric!r}: evaluation metrics reach Tune only when eval.every divides "
            f"train.checkpoint_every (now eval.every={spec.eval.every}, "
            f"train.checkpoint_every={spec.train.checkpoint_every}); set eval.every: {spec.train.checkpoint_every}")
    keys = _eval_keys(spec)
    if metric in keys:
        return
    renamed = [key for key in keys if base_key(key) == base_key(metric)]
    if renamed:
        raise SearchSpaceError(
            f"search.metric {metric!r}: with eval.extractor {spec.eval.extractor!r} this metric is reported as "
            f"{renamed[0]!r} (names say their network; plain names are the standard Inception's): "
            f"write search.metric: {renamed[0]}")
    raise SearchSpaceError(f"search.metric {metric!r} is not produced by eval.metrics={spec.eval.metrics} "
                           f"(reported: {', '.join(keys) or 'nothing'}); add the metric there (e.g. eval.metrics: [fid])")


def parse_search(spec: ExperimentSpec) -> SearchConfig:
    """Validate ``spec.search`` into a SearchConfig (raises SearchSpaceError)."""
    section = spec.search
    if not section:
        raise SearchSpaceError("the spec has no search: section; see jobs/tune/quickstart.yaml for one")
    unknown = set(section) - SEARCH_KEYS
    if unknown:
        raise SearchSpaceError(f"search: unknown key(s) {sorted(unknown)}; valid keys: {', '.join(sorted(SEARCH_KEYS))}")
    space = section.get("space")
    if not isinstance(space, dict) or not space:
        raise SearchSpaceError("search.space: a mapping of dotted spec keys to distributions is required, "
                               "e.g. {optim.g.lr: loguniform(1e-5, 1e-3)}")
    base = spec.user_document()
    dimensions = []
    for key, text in space.items():
        _check_key(spec, str(key))
        dim = parse_distribution(str(key), text)
        _check_values(base, dim)
        dimensions.append(dim)
    metric = section.get("metric")
    if not isinstance(metric, str) or not metric:
        raise SearchSpaceError("search.metric: name the reported metric to optimise, e.g. fid")
    _check_metric(spec, metric)
    mode = section.get("mode", "min")
    if mode not in ("min", "max"):
        raise SearchSpaceError(f"search.mode: min or max, got {mode!r}")
    scheduler, options = _scheduler(section.get("scheduler", "asha"))
    if scheduler == "pbt" and not any(d.numeric for d in dimensions):
        raise SearchSpaceError("search.scheduler pbt: needs a numeric dimension to mutate (uniform, loguniform, "
                               "randint or a choice of numbers, e.g. optim.g.lr: loguniform(1e-5, 1e-3))")
    resources = section.get("resources") or {}
    if not isinstance(resources, dict) or set(resources) - {"workers", "cpus_per_worker"}:
        raise SearchSpaceError(f"search.resources: only workers and cpus_per_worker (per trial), got {resources!r}")
    return SearchConfig(dimensions, metric, mode, scheduler, options,
                        _positive_int(section, "num_samples", 1), _positive_int(section, "max_concurrent", 1),
                        dict(resources), _truncation(section.get("truncation")))


def trial_iterations(spec: ExperimentSpec) -> int:
    """Reports a full trial makes to Tune: one per checkpoint_every steps (and one at the end)."""
    return math.ceil(spec.train.steps / spec.train.checkpoint_every)
