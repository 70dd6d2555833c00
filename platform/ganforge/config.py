"""The experiment spec: one validated document drives train, tune, evaluate, submit and serve.

A YAML file in jobs/ sets only what differs from the defaults below. ``load_spec`` reads it,
applies ``--set a.b=c`` overrides and validates: unknown keys and wrong types are errors that
name the key and list the valid ones. Names of registered things (models, losses, data sets,
optimizers, schedulers, presets) are checked against their registries, lazily, so importing
this module does not import torch.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from ganforge.documents import SpecError, apply_overrides, read_yaml, under_recommendations
from ganforge.spec_sections import (  # noqa: F401 - the sections are imported from here
    Strict, RegisteredSection, DataSpec, ModelSpec, RegularizerSpec, LossSpec, OptimizerSpec,
    OptimSpec, ScheduleSpec, TransformSpec, AdaSpec, AugmentSpec, TrainSpec, EvalSpec, MonitorsSpec,
    ScalingSpec, TrackingSpec, AdaptSpec, _check_options, _check_registered, format_validation_error,
)


class ExperimentSpec(Strict):
    name: str = Field("experiment", description="experiment name (run names, registered model default)")
    task: str = Field("generate", description="what is learnt: generate (G(z, y)), paired (image-to-image from (input, target) pairs), unpaired (two domains A <-> B: CycleGAN), adapt (few-shot adaptation); see `ganforge tasks`")
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    loss: LossSpec = Field(default_factory=LossSpec)
    optim: OptimSpec = Field(default_factory=OptimSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    augment: AugmentSpec = Field(default_factory=AugmentSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    monitors: MonitorsSpec = Field(default_factory=MonitorsSpec, description="alarms for overfitting, collapse, memorisation, divergence")
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    search: dict[str, Any] | None = Field(None, description="Ray Tune search (ganforge tune); see jobs/tune/")
    adapt: AdaptSpec | None = Field(None, description="few-shot adaptation of a trained generator (task: adapt, `ganforge adapt`); see jobs/adapt/")
    # What the user wrote (YAML + --set), kept by spec_from_dict: Tune completes each trial from it.
    _document: dict[str, Any] | None = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _loss_recommendations(cls, data: Any) -> Any:
        """Fill what the spec leaves unset with the loss's paper settings (WGAN: RMSProp, 5 critics)."""
        loss = data.get("loss") if isinstance(data, dict) else None
        if not isinstance(loss, dict) or not isinstance(loss.get("name"), str):
            return data
        from ganforge.losses import LOSSES

        if loss["name"] not in LOSSES:
            return data
        return under_recommendations(getattr(LOSSES.get(loss["name"]), "recommended", {}), data)

    @model_validator(mode="before")
    @classmethod
    def _family_regularizers(cls, data: Any) -> Any:
        """Add the regularizers a model family is defined by (InfoGAN's info term, BigGAN's
        orthogonal regularisation, FastGAN's reconstruction) when the spec does not list them.
        Listing one in loss.regularizers sets its weight and options instead."""
        model = data.get("model") if isinstance(data, dict) else None
        name = model.get("name") if isinstance(model, dict) else None
        loss = data.get("loss", {}) if isinstance(data, dict) else None
        from ganforge.models import MODELS

        if not isinstance(name, str) or name not in MODELS or not isinstance(loss, dict):
            return data
        listed = {r.get("name") if isinstance(r, dict) else getattr(r, "name", None)
                  for r in loss.get("regularizers") or []}
        missing = [dict(r) for r in getattr(MODELS.get(name), "regularizers", ()) if r["name"] not in listed]
        if not missing:
            return data
        return {**data, "loss": {**loss, "regularizers": [*(loss.get("regularizers") or []), *missing]}}

    @model_validator(mode="before")
    @classmethod
    def _adapt_recommendations(cls, data: Any) -> Any:
        """An ``adapt:`` section implies task: adapt and fills what the spec leaves unset with its
        method's reference settings (BSA: Adam, lr x0.1 every 3,000 steps, no EMA)."""
        adapt = data.get("adapt") if isinstance(data, dict) else None
        if not isinstance(adapt, dict):
            return data
        from ganforge.adapt import ADAPT_METHODS

        method = adapt.get("method", "bsa")
        recommended = getattr(ADAPT_METHODS.get(method), "recommended", {}) if method in ADAPT_METHODS else {}
        return under_recommendations({"task": "adapt", **recommended}, data)

    @field_validator("task")
    @classmethod
    def _known_task(cls, name: str) -> str:
        return _check_registered("ganforge.tasks.TASKS", name)

    @model_validator(mode="before")
    @classmethod
    def _family_recommendations(cls, data: Any) -> Any:
        """Fill what the spec leaves unset with the model family's paper settings (pix2pix: no
        EMA, Adam 2e-4 betas (0.5, 0.999); SRResNet: Adam 1e-4), as for a loss's."""
        model = data.get("model") if isinstance(data, dict) else None
        name = model.get("name") if isinstance(model, dict) else None
        from ganforge.models import MODELS

        if not isinstance(name, str) or name not in MODELS:
            return data
        family = MODELS.get(name)
        # A translation family implies its task: `model: {name: pix2pix}` alone is a paired spec.
        implied = {"task": family.task} if hasattr(family, "task") else {}
        return under_recommendations({**implied, **getattr(family, "recommended", {})}, data)

    @model_validator(mode="after")
    def _task_fits(self) -> "ExperimentSpec":
        """The model family and data set must be of the spec's task (a pix2pix on digits is an error)."""
        from ganforge.tasks import task_of

        task_of(self).check(self)
        return self

    @model_validator(mode="after")
    def _batch_divides(self) -> "ExperimentSpec":
        if self.train.batch_size % self.scaling.workers:
            raise ValueError(
                f"train.batch_size={self.train.batch_size} is the global batch and must divide "
                f"evenly across scaling.workers={self.scaling.workers}"
            )
        return self

    def per_worker_batch(self) -> int:
        """Batch each DDP worker processes (the global batch split evenly)."""
        return self.train.batch_size // self.scaling.workers

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict (tuples become lists)."""
        return self.model_dump(mode="json")

    def __eq__(self, other: object) -> bool:
        """Specs with equal fields are equal, whatever document each was read from."""
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def user_document(self) -> dict[str, Any]:
        """A copy of the document this spec was validated from (YAML + --set overrides, before
        defaults and the loss's recommendations); a spec built in code gives its full dict.
        Changes made after validation (assignments, ``model_copy(update=...)``) are not in it."""
        return copy.deepcopy(self._document) if self._document is not None else self.to_dict()


# --- loading ------------------------------------------------------------------------------


def spec_from_dict(document: dict[str, Any], source: str = "spec") -> ExperimentSpec:
    """Validate a plain dict into an ExperimentSpec; errors become one readable SpecError."""
    try:
        spec = ExperimentSpec(**document)
    except ValidationError as err:
        raise SpecError(f"invalid {source}: {format_validation_error(err, ExperimentSpec)}") from None
    spec._document = copy.deepcopy(document)
    return spec


def load_spec(path: str | Path, overrides: list[str] | None = None) -> ExperimentSpec:
    """Read a YAML spec, apply ``--set`` overrides, validate."""
    document = apply_overrides(read_yaml(path), overrides or [])
    document.setdefault("name", Path(path).stem)
    return spec_from_dict(document, source=str(path))


def dump_spec(spec: ExperimentSpec, path: str | Path) -> None:
    """Write ``spec`` as YAML that ``load_spec`` reads back to an equal spec."""
    Path(path).write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
