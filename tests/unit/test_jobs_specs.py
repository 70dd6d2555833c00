"""Every spec under jobs/ (every folder but studies/, recursively, present and future) loads with
``load_spec`` and builds what it says: its data set, G and D at the spec's sizes, the loss and
regularizers, the step; and G's images go through D."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

from conftest import REPO

pytestmark = pytest.mark.unit

# jobs/studies/ holds study documents (a base spec and its variants), not specs:
# tests/unit/test_study_spec.py loads each study and builds every variant's spec.
SPECS = sorted(p for pattern in ("*.yaml", "*.yml") for p in (REPO / "jobs").rglob(pattern)
               if "studies" not in p.relative_to(REPO / "jobs").parts)


def test_the_glob_finds_the_specs():
    assert {"quickstart.yaml", "tune/quickstart.yaml"} <= {str(p.relative_to(REPO / "jobs")) for p in SPECS}


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(REPO / "jobs")) for p in SPECS])
def test_spec_loads_and_builds_its_models(path: Path, tmp_path):
    from ganforge.config import load_spec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of

    spec = load_spec(path)
    if spec.adapt is not None:
        spec = with_untrained_source(spec, tmp_path)
    # Only the number of images is cut (data.limit): shapes, classes and models are the spec's.
    dataset = build_dataset(spec.data.model_copy(update={"limit": 16}))
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(dataset))
    step = task.build_step(spec, modules)
    BUILDS[spec.task](modules, step, dataset)


def _generator_images_go_through_d(modules, step, dataset):
    z, y = step.latents(2, 0, "z-g")
    with torch.no_grad():
        images = modules.G.eval()(z, y)
        out = modules.D.eval()(images, y if step.num_classes else None)
    assert images.shape == (2, *dataset.img_shape) and tuple(modules.G.img_shape) == tuple(dataset.img_shape)
    assert getattr(out, "logits", out).shape == (2,)


def _translations_go_through_d(modules, step, dataset):
    source, target = (torch.stack(part) for part in zip(dataset[0], dataset[1]))
    with torch.no_grad():
        output = modules.G.eval()(source)
        logits = modules.D.eval()(source, output)
    assert output.shape == target.shape == (2, *dataset.img_shape) and source.shape == (2, *dataset.input_shape)
    assert logits.shape[0] == 2


def _domains_translate_both_ways_through_d(modules, step, dataset):
    a, b = (torch.stack(part) for part in zip(dataset[0], dataset[1]))
    with torch.no_grad():
        fake_b, fake_a = modules.G.eval()(a, "a2b"), modules.G(b, "b2a")
        logits = modules.D.eval()(fake_b, "b"), modules.D(fake_a, "a")
    assert fake_b.shape == b.shape == (2, *dataset.shape_b) and fake_a.shape == a.shape == (2, *dataset.shape_a)
    assert all(out.shape[0] == 2 for out in logits)


def with_untrained_source(spec, directory: Path):
    """An adaptation spec pointed at an untrained checkpoint of the jobs/ spec that registers its
    source (so the recipes agree on names, families and image shapes); no perceptual network (its
    weights are the integration test's)."""
    from ganforge.train.checkpoint import atomic_save

    name = spec.adapt.source.removeprefix("models:/").split("/")[0].split("@")[0]
    atomic_save(untrained_source(name), directory / "checkpoint.pt")
    settings = {**spec.adapt.settings, "perceptual_network": "none"} if spec.adapt.method == "bsa" else spec.adapt.settings
    return spec.model_copy(update={"adapt": spec.adapt.model_copy(update={"source": str(directory), "settings": settings})})


@functools.lru_cache(maxsize=None)
def untrained_source(name: str) -> dict:
    """The checkpoint payload of an untrained model of the jobs/ spec registering ``name``."""
    from ganforge.config import load_spec
    from ganforge.data import build_dataset
    from ganforge.models import build_models

    recipes = [s for s in map(load_spec, SPECS) if s.tracking.registered_model == name]
    assert recipes, f"adapt.source models:/{name}/...: no spec under jobs/ registers {name!r}"
    source = recipes[0]
    dataset = build_dataset(source.data.model_copy(update={"limit": 16}))
    classes = dataset.num_classes if source.model.conditional else 0
    G, D = build_models(source.model, dataset.img_shape, classes)
    meta = {"img_shape": list(dataset.img_shape), "num_classes": classes}
    return {"format": 1, "step": 0, "spec": source.to_dict(), "meta": meta, "G": G.state_dict(), "D": D.state_dict()}


def _adapted_generator_samples(modules, step, dataset):
    z = torch.randn(2, modules.G.z_dim)
    with torch.no_grad():
        images = modules.G.eval()(z)
    assert images.shape == (2, *dataset.img_shape) and modules.G.num_classes == 0
    if hasattr(modules.G, "reconstruct"):  # BSA: one latent per few-shot image
        assert modules.G.latents.shape == (len(dataset), modules.G.z_dim)
    else:
        assert modules.D.eval()(images).shape == (2,)


# spec.task -> check
BUILDS = {"generate": _generator_images_go_through_d, "paired": _translations_go_through_d,
          "unpaired": _domains_translate_both_ways_through_d, "adapt": _adapted_generator_samples}
