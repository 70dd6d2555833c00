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
    from ganforge.train.setup import build_modules, build_step

    spec = load_spec(path)
    # Only the number of images is cut (data.limit): shapes, classes and models are the spec's.
    dataset = build_dataset(spec.data.model_copy(update={"limit": 16}))
    modules = build_modules(spec, dataset.img_shape, dataset.num_classes)
    step = build_step(spec, modules)
    z, y = step.latents(2, 0, "z-g")
    with torch.no_grad():
        images = modules.G.eval()(z, y)
        out = modules.D.eval()(images, y if step.num_classes else None)
    assert images.shape == (2, *dataset.img_shape) and tuple(modules.G.img_shape) == tuple(dataset.img_shape)
    assert getattr(out, "logits", out).shape == (2,)
