"""The spec's sections (data, model, loss, optim, schedule, augment, train, eval, monitors, scaling,
tracking, adapt): one pydantic model each, strict about keys, checking registered names lazily.

``ganforge.config`` assembles them into ``ExperimentSpec`` and re-exports them; import them from
there. Names of registered things are checked against their registries on validation, so
importing this module does not import torch.
"""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _check_registered(registry_path: str, name: str) -> str:
    """Raise a ValueError listing valid names unless ``name`` is in the named registry."""
    module_name, attr = registry_path.rsplit(".", 1)
    import importlib

    registry = getattr(importlib.import_module(module_name), attr)
    if name not in registry:
        raise ValueError(f"unknown {registry.kind} {name!r}; valid: {', '.join(registry.names())}")
    return name


def _check_options(registry_path: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Validate ``options`` against the registered entry's ``Options`` model (if it has one)."""
    module_name, attr = registry_path.rsplit(".", 1)
    import importlib

    entry = getattr(importlib.import_module(module_name), attr).get(name)
    options_model = getattr(entry, "Options", None)
    if options_model is None:
        if options:
            raise ValueError(f"{name!r} takes no options, got {sorted(options)}")
        return options
    try:
        return options_model(**options).model_dump()
    except ValidationError as err:
        raise ValueError(f"options of {name!r}: {format_validation_error(err, options_model)}") from None


class RegisteredSection(Strict):
    """A section whose ``name`` picks a registry entry and whose ``options`` that entry validates."""

    registry: ClassVar[str]  # "module.REGISTRY" holding the entries

    @field_validator("name", check_fields=False)
    @classmethod
    def _known(cls, name: str) -> str:
        return _check_registered(cls.registry, name)

    @model_validator(mode="after")
    def _options(self):
        object.__setattr__(self, "options", _check_options(self.registry, self.name, self.options))
        return self


class DataSpec(RegisteredSection):
    registry: ClassVar[str] = "ganforge.data.DATASETS"
    name: str = Field("digits", description="registered data set (see `ganforge datasets`)")
    root: str | None = Field(None, description="directory holding the data set's files (folder, cifar10, mnist, ...)")
    resolution: int = Field(32, ge=4, le=1024, description="images are resized to resolution x resolution")
    channels: Literal[1, 3] | None = Field(None, description="force 1 (grey) or 3 (RGB) channels; null keeps the data set's own")
    split: Literal["train", "test"] = Field("train", description="which split of data sets that have one")
    limit: int | None = Field(None, ge=1, description="use only the first N images (small runs, tests)")
    max_bad_fraction: float = Field(0.01, ge=0, le=1, description="fraction of unreadable files tolerated (skipped with a warning) before it is an error")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes per training worker")
    download: bool = Field(False, description="try to download missing files (needs network); otherwise the error says where to put them")
    options: dict[str, Any] = Field(default_factory=dict, description="data-set specific options")


class ModelSpec(RegisteredSection):
    registry: ClassVar[str] = "ganforge.models.MODELS"
    name: str = Field("dcgan", description="registered model family (see `ganforge models`)")
    z_dim: int = Field(100, ge=1, description="latent dimension")
    conditional: bool = Field(False, description="condition G and D on the data set's class labels")
    init_from: str | None = Field(None, description="a generator source (models:/..., run id, checkpoint) whose weights initialise G, e.g. SRGAN from SRResNet")
    options: dict[str, Any] = Field(default_factory=dict, description="family-specific options (widths, spectral norm, ...)")


class RegularizerSpec(RegisteredSection):
    registry: ClassVar[str] = "ganforge.losses.REGULARIZERS"
    name: str = Field(description="registered regularizer: gradient-penalty, r1, weight-clip, orthogonal, ...")
    weight: float = Field(1.0, description="multiplier of the regularizer's term")
    options: dict[str, Any] = Field(default_factory=dict, description="regularizer-specific options")


class LossSpec(RegisteredSection):
    registry: ClassVar[str] = "ganforge.losses.LOSSES"
    name: str = Field("non-saturating", description="registered adversarial loss (see `ganforge losses`)")
    n_critic: int = Field(1, ge=1, description="discriminator updates per generator update")
    regularizers: list[RegularizerSpec] = Field(default_factory=list, description="extra terms, e.g. gradient-penalty")
    weights: dict[str, float] = Field(default_factory=dict, description="weights of the task's loss terms (paired: adversarial, l1, mse, content; unpaired: adversarial, cycle, identity); unset ones take the model family's paper values")
    content_network: Literal["auto", "vgg19", "inception"] = Field("auto", description="features of the content (perceptual) loss: vgg19 (local weights), inception (the setup's port), auto: vgg19 when its weights are found")
    content_weights: str | None = Field(None, description="local file of the content network's weights (default: GANFORGE_VGG19_WEIGHTS)")
    options: dict[str, Any] = Field(default_factory=dict, description="loss-specific options")


class OptimizerSpec(Strict):
    name: str = Field("adam", description="adam, adamw, rmsprop, sgd or nesterov")
    lr: float = Field(2e-4, gt=0, description="learning rate")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam/AdamW betas")
    momentum: float = Field(0.9, ge=0, description="SGD / Nesterov / RMSProp momentum")
    weight_decay: float = Field(0.0, ge=0, description="L2 weight decay")
    eps: float = Field(1e-8, gt=0, description="numerical epsilon (Adam, RMSProp)")

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        return _check_registered("ganforge.train.optim.OPTIMIZERS", name)


class OptimSpec(Strict):
    g: OptimizerSpec = Field(default_factory=OptimizerSpec, description="generator optimizer")
    d: OptimizerSpec = Field(default_factory=OptimizerSpec, description="discriminator optimizer")


class ScheduleSpec(RegisteredSection):
    registry: ClassVar[str] = "ganforge.train.optim.SCHEDULERS"
    name: str = Field("none", description="learning-rate schedule: none, step, exponential, cosine, linear, warmup")
    options: dict[str, Any] = Field(default_factory=dict, description="schedule options (step_size, gamma, warmup_steps, min_lr_ratio)")


class TransformSpec(Strict):
    name: str = Field(description="Albumentations transform class name, e.g. GaussianBlur")
    params: dict[str, Any] = Field(default_factory=dict, description="its keyword arguments (Albumentations 2.x names)")

    @model_validator(mode="after")
    def _valid(self) -> "TransformSpec":
        from ganforge.augment import validate_transform

        validate_transform(self.name, self.params)
        return self


class AdaSpec(Strict):
    target: float = Field(0.6, gt=0, lt=1, description="ADA's target r_t = E[sign D(real)]: p rises above it, falls below it (the paper: 0.6)")
    interval: int = Field(4, ge=1, description="adjust p every N discriminator minibatches")
    kimg: float = Field(500.0, gt=0, description="thousands of real images for p to move from 0 to 1")
    p: float = Field(0.0, ge=0, le=1, description="initial augmentation probability")
    pipeline: str = Field("bgc", description="transforms ADA applies: blit, geom, color, bg or bgc (the paper's default)")

    @field_validator("pipeline")
    @classmethod
    def _known(cls, name: str) -> str:
        return _check_registered("ganforge.augment.ada.ADA_PIPELINES", name)


class AugmentSpec(Strict):
    preset: str = Field("none", description="named Albumentations pipeline: none, blur, blur+flip, blur+flip+affine")
    transforms: list[TransformSpec] = Field(default_factory=list, description="Albumentations transforms appended after the preset")
    diffaugment: str = Field("", description="DiffAugment policies applied to real and fake batches, e.g. 'color,translation,cutout'")
    ada: AdaSpec | None = Field(None, description="adaptive discriminator augmentation on real and fake batches, e.g. {target: 0.6}")

    @model_validator(mode="after")
    def _one_differentiable_augmentation(self) -> "AugmentSpec":
        if self.ada is not None and self.diffaugment:
            raise ValueError("augment.ada and augment.diffaugment are both set; use one per run "
                             "(remove augment.diffaugment to use ADA, or augment.ada to keep DiffAugment)")
        return self

    @field_validator("preset")
    @classmethod
    def _known(cls, name: str) -> str:
        return _check_registered("ganforge.augment.PRESETS", name)

    @field_validator("diffaugment")
    @classmethod
    def _policies(cls, policy: str) -> str:
        from ganforge.augment import validate_diffaugment

        validate_diffaugment(policy)
        return policy


class TrainSpec(Strict):
    steps: int = Field(2000, ge=1, description="generator updates to run")
    batch_size: int = Field(64, ge=1, description="global batch size, split evenly across workers")
    seed: int = Field(0, description="seeds model init, data order, latents and augmentation")
    log_every: int = Field(25, ge=1, description="log losses to MLflow every N steps")
    sample_every: int = Field(500, ge=0, description="log a sample grid every N steps (0: only at the end)")
    checkpoint_every: int = Field(500, ge=1, description="report a checkpoint to Ray Train every N steps")
    grid_size: int = Field(64, ge=1, le=256, description="images in each sample grid")
    ema: float = Field(0.999, ge=0, lt=1, description="EMA decay of the generator's weights (0: off)")
    ema_start: int = Field(0, ge=0, description="steps before the EMA starts averaging (copies G until then)")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="autocast dtype of the step's forwards: fp32, bf16, or fp16 (loss-scaled on GPU); GP/R1 stay fp32")
    amp: bool = Field(False, description="deprecated spelling of precision: bf16 (now on CPU too, where it used to be ignored)")
    channels_last: bool = Field(False, description="models and image batches in channels-last memory format (faster convolutions on GPUs)")
    compile: bool = Field(False, description="torch.compile the step's G and D forwards (first steps pay the compilation)")
    deterministic: bool = Field(False, description="deterministic GPU kernels (no cudnn autotuning): bit-reproducible GPU runs, slower")
    max_failures: int = Field(0, ge=-1, description="worker failures Ray Train recovers from (-1: unlimited)")
    torch_threads: int | None = Field(None, ge=1, description="intra-op threads per worker (default: its CPUs)")
    stop_on: list[str] = Field(default_factory=list, description="monitors whose alarm stops the run cleanly, e.g. [collapse, divergence]")

    @model_validator(mode="after")
    def _amp_means_bf16(self) -> "TrainSpec":
        """train.amp: true (the spelling before train.precision) keeps working as bf16."""
        if self.amp and self.precision != "bf16":
            if "precision" in self.model_fields_set:
                raise ValueError(f"train.amp=true is the old spelling of train.precision=bf16 and conflicts with "
                                 f"train.precision={self.precision}: remove train.amp")
            object.__setattr__(self, "precision", "bf16")
        return self

    @field_validator("stop_on")
    @classmethod
    def _monitors(cls, names: list[str]) -> list[str]:
        for name in names:
            _check_registered("ganforge.train.monitors.MONITORS", name)
        return names


class EvalSpec(Strict):
    every: int = Field(0, ge=0, description="evaluate the EMA generator every N steps (0: off)")
    metrics: list[str] = Field(default_factory=list, description="metrics to compute, e.g. [fid, kid]")
    n: int = Field(5000, ge=2, description="generated (and real) samples per evaluation")
    extractor: str = Field("auto", description="feature extractor: auto, inception, domain:<data set>, clip")
    batch_size: int = Field(100, ge=1, description="generation / feature batch size")
    truncation: float | None = Field(None, gt=0, description="truncation threshold used when sampling for evaluation")
    options: dict[str, Any] = Field(default_factory=dict, description="metric options, e.g. {kid_subsets: 50}")


class MonitorsSpec(Strict):
    enabled: bool = Field(True, description="watch the run for overfitting, collapse, memorisation and divergence (rank 0)")
    r_t_max: float = Field(0.95, gt=0, le=1, description="overfitting alarm without held-out data: r_t = E[sign D(real)] over a log interval above this")
    d_gap_max: float = Field(0.5, gt=0, description="overfitting alarm: held-out reals this far from training reals towards fakes in D's mean logit (0..1)")
    heldout: int = Field(64, ge=0, description="held-out reals (the images past data.limit) for D's gap; 0: off")
    samples: int = Field(64, ge=2, description="fixed-seed samples the collapse and memorisation monitors look at (at evaluations)")
    diversity_min: float = Field(0.25, ge=0, description="collapse alarm: sample diversity (mean pairwise feature distance) below this share of the data's")
    coverage_min: float = Field(0.5, ge=0, le=1, description="collapse alarm on labelled data: share of classes the samples hit below this")
    min_distance: float = Field(0.01, ge=0, description="memorisation alarm: MiFID's distance of samples to their nearest training image below this")
    track: str = Field("fid", description="the evaluated metric for divergence and the kept best checkpoint (fid matches domain-*.fid)")
    patience: int = Field(3, ge=1, description="divergence alarm: the tracked metric worse this many evaluations in a row after its best")
    tolerance: float = Field(0.01, ge=0, description="divergence: an evaluation counts as worse when it moves by more than this share of the previous value")
    after: int | None = Field(None, ge=0, description="no alarms before this step (metrics still logged); default: the later of 25% of train.steps and the EMA's horizon ema_start + 1/(1 - ema)")


class ScalingSpec(Strict):
    workers: int = Field(1, ge=1, description="Ray Train workers (DDP processes)")
    use_gpu: bool | Literal["auto"] = Field("auto", description="one GPU per worker; auto uses GPUs when the cluster has them")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs reserved per worker")
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = Field("PACK", description="how workers are placed on nodes")
    storage_path: str | None = Field(None, description="Ray Train storage (checkpoints); shared storage on a multi-node cluster")


class TrackingSpec(Strict):
    experiment: str = Field("ganforge", description="MLflow experiment name")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///./mlflow.db)")
    registered_model: str | None = Field(None, description="register the final EMA generator under this name")
    run_name: str | None = Field(None, description="MLflow run name (default: the spec's name)")


class AdaptSpec(Strict):
    """Few-shot adaptation of a trained generator (``ganforge adapt``, the adapt task)."""

    source: str = Field(description="the pretrained generator: models:/name/version|latest|@alias, a run id, or a checkpoint directory")
    method: str = Field("bsa", description="bsa (batch-statistics adaptation), finetune, or freezed (fine-tuning with D's lower layers frozen)")
    settings: dict[str, Any] = Field(default_factory=dict, description="the method's settings (loss weights, latent lr, frozen D layers, ...)")

    @field_validator("method")
    @classmethod
    def _known(cls, name: str) -> str:
        return _check_registered("ganforge.adapt.ADAPT_METHODS", name)

    @model_validator(mode="after")
    def _settings(self):
        object.__setattr__(self, "settings", _check_options("ganforge.adapt.ADAPT_METHODS", self.method, self.settings))
        return self


# --- validation messages ------------------------------------------------------------------


def _section_model(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class at ``loc`` below ``root`` (for 'valid keys' hints)."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return model
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                model = candidate
                break
        else:
            return model
    return model


def format_validation_error(err: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem: the dotted key, what is wrong, and valid keys for unknown ones."""
    lines = []
    for problem in err.errors():
        loc = tuple(problem["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            section = _section_model(root, loc[:-1])
            valid = ", ".join(section.model_fields) if section else "?"
            message = f"unknown key; valid keys here: {valid}"
        lines.append(f"{key}: {message}")
    return "; ".join(lines)
