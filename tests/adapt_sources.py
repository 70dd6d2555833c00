"""Tiny few-shot adaptation sources and specs shared by the adaptation tests (unit and the DDP
equivalence case): a source checkpoint as training writes one, an adapt spec on a few faces, and
the task's modules and step as the worker loop builds them."""
from __future__ import annotations

import torch

FAMILIES = {  # family: (model section, conditional)
    "sngan": {"name": "sngan", "z_dim": 16, "options": {"g_ch": 2, "d_ch": 2}},
    "biggan": {"name": "biggan", "z_dim": 20, "conditional": True,
               "options": {"g_ch": 2, "d_ch": 2, "shared_dim": 4, "attn_res": 0}},
}


def save_source(directory, family: str = "sngan", seed: int = 0):
    """A tiny untrained source checkpoint (G, D, spec, meta) as training writes one; returns the directory."""
    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.train.checkpoint import atomic_save

    model = FAMILIES[family]
    spec = ExperimentSpec(name=f"source-{family}", data={"name": "digits", "resolution": 32}, model=model)
    classes = 10 if model.get("conditional") else 0
    torch.manual_seed(seed)
    G, D = build_models(spec.model, (1, 32, 32), classes)
    with torch.no_grad():  # the BatchNorm statistics of its own samples, as a trained G has (not 0/1)
        norms = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for norm in norms:
            norm.momentum = None  # a cumulative average
        y = torch.arange(16) % classes if classes else None
        G.train()(torch.randn(16, G.z_dim), y)
        for norm in norms:
            norm.momentum = 0.1
    payload = {"format": 1, "step": 5, "spec": spec.to_dict(), "meta": {"img_shape": [1, 32, 32], "num_classes": classes},
               "G": G.state_dict(), "D": D.state_dict()}
    atomic_save(payload, directory / "checkpoint.pt")
    return directory


def adapt_spec(source, method: str = "bsa", settings: dict | None = None, images: int = 6, **extra):
    from ganforge.config import ExperimentSpec

    settings = {"perceptual_network": "none", **(settings or {})} if method == "bsa" else (settings or {})
    return ExperimentSpec(name="adapt", data={"name": "lfw-faces", "resolution": 32, "channels": 1, "limit": images},
                          adapt={"source": str(source), "method": method, "settings": settings},
                          train={"batch_size": 4, "steps": 10, **extra.pop("train", {})}, **extra)


def build(spec):
    """(task, meta, modules, step) as the worker loop builds them."""
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of

    task = task_of(spec)
    meta = task.meta(build_dataset(spec.data))
    modules = task.build_modules(spec, meta)
    return task, meta, modules, task.build_step(spec, modules)
