"""Tiny generators saved and registered the way ganforge does, for the tests that need model sources
(sampling's resolver, ``ganforge evaluate``, the Serve app): a checkpoint directory, an MLflow run
with a logged model, registry versions and an alias in a temporary sqlite store."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

import torch


def save_tiny_generator(directory: Path, num_classes: int = 0, seed: int = 0, step: int = 7) -> Path:
    """An untrained 32 px DCGAN generator (weights fixed by ``seed``) saved as training saves one;
    returns the ``generator.pt`` file."""
    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    spec = ExperimentSpec(name=directory.name, data={"name": "digits"},
                          model={"name": "dcgan", "z_dim": 16, "conditional": num_classes > 0,
                                 "options": {"ngf": 8, "ndf": 8}})
    torch.manual_seed(seed)
    generator, _ = build_models(spec.model, (1, 32, 32), num_classes)
    meta = {"img_shape": [1, 32, 32], "num_classes": num_classes}
    return atomic_save(generator_state(generator, spec.to_dict(), meta, step=step), directory / GENERATOR_FILE)


def log_tiny_generator(run_id: str, tracking_uri: str, generator_file: Path, registered_name: str | None):
    """``tracking.log_generator`` by keyword (its z_dim argument is gone in newer versions; given when taken)."""
    from ganforge.tracking import log_generator

    kwargs = {"run_id": run_id, "tracking_uri": tracking_uri, "generator_file": generator_file,
              "registered_name": registered_name}
    if "z_dim" in inspect.signature(log_generator).parameters:
        kwargs["z_dim"] = 16
    return log_generator(**kwargs)


@dataclass
class TinyRegistry:
    """A sqlite store where ``name`` has version 1 (seed 0, run ``runs[0]``, alias ``champion``) and
    version 2 (seed 1, run ``runs[1]``); ``files[i]`` is version i+1's generator.pt."""

    uri: str
    name: str
    runs: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)


def tiny_registry(root: Path, name: str = "tiny", experiment: str = "sources") -> TinyRegistry:
    """Create the store of :class:`TinyRegistry` under ``root`` (versions logged from two runs)."""
    import mlflow

    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment_id = client.create_experiment(experiment, artifact_location=str(root / "artifacts"))
    registry = TinyRegistry(uri, name)
    for seed in (0, 1):
        run_id = client.create_run(experiment_id).info.run_id
        client.log_metric(run_id, "fid", 100.0 + seed)
        file = save_tiny_generator(root / f"v{seed + 1}", seed=seed)
        info = log_tiny_generator(run_id, uri, file, name)
        registry.runs.append(run_id)
        registry.files.append(file)
        registry.model_ids.append(info.model_id)
    client.set_registered_model_alias(name, "champion", "1")
    mlflow.set_tracking_uri(None)  # log_generator set the process-global URI; callers pass theirs
    return registry


def same_weights(generator: torch.nn.Module, generator_file: Path) -> bool:
    """Whether ``generator`` holds exactly the weights saved in ``generator_file``."""
    from ganforge.train.checkpoint import load_checkpoint

    saved = load_checkpoint(generator_file)["G"]
    state = generator.state_dict()
    return saved.keys() == state.keys() and all(torch.equal(saved[k], state[k].cpu()) for k in saved)


# (family, data set, input shape, target shape, options): a same-size RGB translator and a 1-channel x2 upscaler
TINY_TRANSLATORS = {
    "pix2pix": ("pix2pix", "silhouettes", (3, 32, 32), (3, 32, 32), {"ngf": 4, "ndf": 4}),
    "srresnet": ("srresnet", "sr", (1, 16, 16), (1, 32, 32), {"n_blocks": 1, "ngf": 8, "ndf": 8, "dense": 16}),
    "srgan": ("srgan", "sr", (3, 8, 8), (3, 32, 32), {"n_blocks": 1, "ngf": 8, "ndf": 8, "dense": 16}),
}


def save_tiny_translator(directory: Path, family: str = "pix2pix", seed: int = 0, step: int = 3) -> Path:
    """An untrained paired generator of :data:`TINY_TRANSLATORS` (weights fixed by ``seed``) saved as
    training saves one (meta: input_shape, img_shape, scale); returns the ``generator.pt`` file."""
    from ganforge.config import ExperimentSpec
    from ganforge.tasks import task_of
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    name, data, input_shape, target_shape, options = TINY_TRANSLATORS[family]
    spec = ExperimentSpec(name=directory.name, task="paired", data={"name": data, "resolution": target_shape[1]},
                          model={"name": name, "options": options})
    scale = target_shape[1] // input_shape[1]
    meta = {"img_shape": list(target_shape), "input_shape": list(input_shape), "scale": scale, "num_classes": 0}
    torch.manual_seed(seed)
    generator = task_of(spec).build_generator(spec, meta)
    return atomic_save(generator_state(generator, spec.to_dict(), meta, step=step), directory / GENERATOR_FILE)


def save_tiny_cyclegan(directory: Path, seed: int = 0, step: int = 3) -> Path:
    """An untrained unpaired CycleGAN generator pair (grey 16 px domain A <-> RGB 16 px domain B, so
    each direction has its own input and output shapes; weights fixed by ``seed``) saved as training
    saves one; returns the ``generator.pt`` file."""
    from ganforge.config import ExperimentSpec
    from ganforge.tasks import task_of
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    spec = ExperimentSpec(name=directory.name, task="unpaired", data={"name": "digits-inverted", "resolution": 16},
                          model={"name": "cyclegan", "options": {"ngf": 2, "ndf": 2, "n_blocks": 1, "n_layers_d": 1}},
                          loss={"weights": {"identity": 0.0}})
    meta = {"img_shape": [3, 16, 16], "input_shape": [1, 16, 16], "shape_a": [1, 16, 16], "shape_b": [3, 16, 16],
            "scale": 1, "num_classes": 0}
    torch.manual_seed(seed)
    generator = task_of(spec).build_generator(spec, meta)
    return atomic_save(generator_state(generator, spec.to_dict(), meta, step=step), directory / GENERATOR_FILE)
