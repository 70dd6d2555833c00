"""The ``adapt`` task: few-shot adaptation of a trained generator (methods in ganforge.adapt:
bsa, finetune, freezed) to a few images of a new domain, run by the shared worker loop.

A spec of this task has an ``adapt:`` section (source, method, settings); its data set is the
few-shot target (``data.limit`` images). The architecture is the source's: ``build_modules``
loads the source and records its spec and meta in the run's meta (``meta["source"]``), which every
checkpoint and generator file carries, so an adapted generator is rebuilt from its own file
without the source. Sample grids: a row of training images, (BSA) a row of their
reconstructions, then new samples from N(0, I). Periodic evaluation is the generate task's
(FID, KID, KMMD, ... of new samples against the few-shot set).
"""
from __future__ import annotations

import torch

from ganforge.noise import BatchRandom
from ganforge.tasks import TASKS
from ganforge.tasks.base import Task, entry_task

GRID_ROW = 8  # training images per grid row


def method_of(spec):
    """The registered adaptation method ``spec.adapt`` names (methods hold no state)."""
    from ganforge.adapt import ADAPT_METHODS

    return ADAPT_METHODS.get(spec.adapt.method)()


def source_weights(spec):
    """The source's weights (adapt/source.py) as the method needs them, checked for the method."""
    from ganforge.adapt.source import load_source
    from ganforge.tracking import resolve_tracking_uri

    method = method_of(spec)
    weights = load_source(spec.adapt.source, resolve_tracking_uri(spec), method.needs_discriminator)
    method.check_source(spec, weights)
    return weights


def check_shapes(source_meta: dict, meta: dict) -> None:
    """The few-shot images must have the source's shape (channels, resolution)."""
    if list(source_meta["img_shape"]) != list(meta["img_shape"]):
        raise ValueError(f"the source generates {list(source_meta['img_shape'])} images but the few-shot data are "
                         f"{list(meta['img_shape'])}: set data.resolution / data.channels to the source's")


@TASKS.register("adapt")
class AdaptTask(Task):
    """A trained generator adapted to a few images (bsa, finetune, freezed)."""

    name = "adapt"
    default_metrics = ("fid", "kmmd_gauss")
    serves = "generate"  # an adapted generator is G(z): served and logged as a generate model

    def check(self, spec) -> None:
        from ganforge.data import DATASETS

        if spec.adapt is None:
            raise ValueError("task=adapt needs an adapt: section (source, method, settings); see jobs/adapt/")
        found = entry_task(DATASETS.get(spec.data.name))
        if found != "generate":
            raise ValueError(f"data.name={spec.data.name!r} is a {found} data set; the few-shot data of "
                             "adaptation is an image data set (e.g. lfw-faces, digits, folder)")
        method_of(spec).check(spec)

    def meta(self, dataset) -> dict:
        return {**super().meta(dataset), "num_classes": 0, "images": len(dataset)}

    def build_modules(self, spec, meta, world=1, device="cpu"):
        weights = source_weights(spec)
        check_shapes(weights.meta, meta)
        # Recorded in the meta every checkpoint carries: what rebuilds the adapted generator.
        meta["source"] = {"spec": weights.spec, "meta": weights.meta, "pinned": weights.pinned}
        return method_of(spec).build_modules(spec, weights, meta, world, device)

    def build_step(self, spec, modules, rank=0, world=1, device="cpu"):
        return method_of(spec).build_step(spec, modules, rank, world, device)

    def build_generator(self, spec, meta):
        from ganforge.adapt.source import rebuild_pair

        source = meta["source"]
        G, _ = rebuild_pair(source["spec"], source["meta"])
        return method_of(spec).build_generator(spec, G, source["spec"]["model"]["name"], meta)

    def grid_inputs(self, spec, dataset, device):
        """The first training images (without augmentation) and the run's seed."""
        rows = min(GRID_ROW, len(dataset))
        images = torch.stack([_plain(dataset, i) for i in range(rows)]).to(device)
        return {"targets": images, "n": spec.train.grid_size, "seed": spec.train.seed, "device": device}

    @torch.no_grad()
    def sample_grid(self, generator, inputs):
        targets, device = inputs["targets"], inputs["device"]
        per_row = len(targets)
        parts = [targets]
        if hasattr(generator, "reconstruct"):
            parts.append(generator.reconstruct(torch.arange(per_row, device=device)))
        n = max(per_row, inputs["n"] // per_row * per_row)
        z = BatchRandom(inputs["seed"], 0, "grid", device=device).randn(n, generator.z_dim)
        parts.append(generator(z))
        return torch.cat(parts), per_row

    def planned_keys(self, spec):
        from ganforge.metrics.evaluation import planned_keys

        return planned_keys(spec) if spec.eval.metrics else []

    def build_evaluator(self, spec, device):
        from ganforge.metrics import Evaluator

        return Evaluator.from_spec(spec, device=device, options=spec.eval.options or None)

    def evaluate_commands(self, source):
        return [f"ganforge evaluate {source} --metrics fid,kmmd_gauss"]


def _plain(dataset, index: int) -> torch.Tensor:
    """Image ``index`` as the model sees it, without the run's augmentation."""
    from ganforge.data.base import to_tensor

    return to_tensor(dataset.image(index))
