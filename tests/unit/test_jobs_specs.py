"""Every spec under jobs/ (every folder, recursively, present and future) loads with ``load_spec``
and builds what it says: its data set, G and D at the spec's sizes, the loss and regularizers,
the step; and G's images go through D."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import REPO

pytestmark = pytest.mark.unit

SPECS = sorted(p for pattern in ("*.yaml", "*.yml") for p in (REPO / "jobs").rglob(pattern))


def test_the_glob_finds_the_specs():
    assert {"quickstart.yaml", "tune/quickstart.yaml"} <= {str(p.relative_to(REPO / "jobs")) for p in SPECS}


@pytest.mark.parametrize("path", SPECS, ids=[str(p.relative_to(REPO / "jobs")) for p in SPECS])
def test_spec_loads_and_builds_its_models(path: Path):
    from ganforge.config import load_spec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of

    spec = load_spec(path)
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


BUILDS = {"generate": _generator_images_go_through_d, "paired": _translations_go_through_d}  # spec.task -> check
