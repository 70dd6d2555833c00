"""The ``paired`` task: G(input) -> target learnt from (input, target) pairs: pix2pix (Isola et
al. 2017), SRResNet and SRGAN (Ledig et al. 2017).

Data sets of this task return (input, target) tensor pairs (data/paired.py); model families build
``G(x) -> y`` and ``D(x, y) -> logits`` from (input shape, target shape). The loss is the spec's
adversarial loss (loss.name) plus the weighted terms of tasks/paired_step.py; ``loss.weights``
overrides the family's paper weights (``objective``). Sample grids are rows of input | output |
target on held-out pairs; periodic evaluation reports PSNR/SSIM (the SR literature's convention),
L1 and the bicubic/identity baseline beside them (metrics/translation.py).
"""
from __future__ import annotations


import torch
import torch.nn.functional as F

from ganforge.tasks import TASKS
from ganforge.tasks.base import Task
from ganforge.tasks.paired_step import TERMS, PairedConfig, PairedStep

GRID_ROWS = 8  # pairs per sample grid (each row: input | output | target)


def objective(spec) -> dict[str, float]:
    """The loss-term weights of ``spec``: the family's paper values, overridden by loss.weights."""
    from ganforge.models import MODELS

    return {**getattr(MODELS.get(spec.model.name), "objective", {}), **spec.loss.weights}


def held_out(spec, limit: int | None = None):
    """The data set's held-out pairs (data.split=test; the first ``limit``), else its training pairs."""
    from ganforge.data import DataError, build_dataset

    try:
        return build_dataset(spec.data.model_copy(update={"split": "test", "limit": limit}))
    except DataError:
        return build_dataset(spec.data.model_copy(update={"limit": limit or spec.data.limit}))


def as_rgb(images: torch.Tensor, size: int) -> torch.Tensor:
    """Images as 3 channels at ``size`` (nearest: an SR input shows its pixels) for one grid."""
    if images.shape[-1] != size:
        images = F.interpolate(images, size=(size, size), mode="nearest")
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


@TASKS.register("paired")
class PairedTask(Task):
    """G(input) -> target from (input, target) pairs: pix2pix, SRResNet, SRGAN."""

    name = "paired"
    default_metrics = ("psnr_y", "ssim_y", "l1")

    def check(self, spec) -> None:
        super().check(spec)
        unknown = sorted(set(spec.loss.weights) - set(TERMS))
        if unknown:
            raise ValueError(f"loss.weights: unknown term(s) {unknown}; the paired task's terms: {', '.join(TERMS)}")
        if spec.loss.regularizers:
            raise ValueError("loss.regularizers are terms of the generate task; a paired model's terms are "
                             f"loss.weights ({', '.join(TERMS)})")
        for key, value in (("augment.diffaugment", spec.augment.diffaugment), ("augment.ada", spec.augment.ada)):
            if value:
                raise ValueError(f"{key} augments D's view of generated images in the generate task; the paired "
                                 "task augments pairs with augment.preset / augment.transforms (same crop and flip "
                                 "on both)")
        if spec.model.conditional:
            raise ValueError("model.conditional is for class labels; a paired model is conditioned on its input image")

    def meta(self, dataset) -> dict:
        return {"img_shape": list(dataset.img_shape), "input_shape": list(dataset.input_shape),
                "scale": int(dataset.scale), "num_classes": 0}

    def build_generator(self, spec, meta):
        return self.build_pair(spec, meta)[0]

    def build_modules(self, spec, meta, world=1, device="cpu"):
        from ganforge.train.setup import modules_from

        def build_pair():
            G, D = self.build_pair(spec, meta)
            if spec.model.init_from:  # before the BN conversion: the source's layout
                G.load_state_dict(initial_weights(spec.model.init_from, spec))
            return G, D

        return modules_from(spec, build_pair, world, device)

    def build_pair(self, spec, meta):
        """(G, D) of the spec's paired family for the meta's input and target shapes."""
        from ganforge.models import MODELS

        return MODELS.get(spec.model.name).build(spec.model, tuple(meta["input_shape"]), tuple(meta["img_shape"]))

    def build_step(self, spec, modules, rank=0, world=1, device="cpu"):
        from ganforge.losses import build_loss

        weights = objective(spec)
        content = None
        if weights.get("content"):
            from ganforge.losses.perceptual import build_content_network

            content = build_content_network(spec.loss.content_network, spec.loss.content_weights).to(device)
        loss, _ = build_loss(spec.loss)
        config = PairedConfig(weights, world, spec.train.ema, spec.train.ema_start)
        return PairedStep(modules, loss, config, content)

    def grid_inputs(self, spec, dataset, device):
        """The first held-out pairs, fixed for the run (no augmentation)."""
        rows = min(GRID_ROWS, spec.train.grid_size)
        pairs = held_out(spec, rows)
        rows = min(rows, len(pairs))
        sources, targets = zip(*(pairs[i] for i in range(rows)))
        return torch.stack(sources).to(device), torch.stack(targets).to(device)

    @torch.no_grad()
    def sample_grid(self, generator, inputs):
        sources, targets = inputs
        outputs = generator(sources)
        size = targets.shape[-1]
        rows = [as_rgb(part, size) for part in (sources, outputs, targets)]
        return torch.stack(rows, dim=1).flatten(0, 1), 3  # input | output | target, one pair a row

    def planned_keys(self, spec):
        from ganforge.metrics.translation import planned_keys

        return planned_keys(spec.eval.metrics or self.default_metrics) if spec.eval.every else []

    def build_evaluator(self, spec, device):
        from ganforge.metrics.translation import evaluate_translation

        pairs = held_out(spec, spec.eval.n)
        metrics = list(spec.eval.metrics or self.default_metrics)

        def evaluate(generator, best=None):
            results = evaluate_translation(generator, pairs, pairs.scale, metrics, device, spec.eval.batch_size)
            if best is not None:
                results.update(best.update(results))
            return results

        return evaluate


def initial_weights(source: str, spec) -> dict:
    """The G weights ``model.init_from`` names (SRGAN from an SRResNet), checked to be of the
    same architecture."""
    from ganforge.sampling import load_generator

    loaded = load_generator(source, tracking_uri=spec.tracking.tracking_uri)
    allowed = (spec.model.name, *init_sources(spec))
    if loaded.spec.model.name not in allowed:
        raise ValueError(f"model.init_from={source!r} is a {loaded.spec.model.name} generator; "
                         f"{spec.model.name} can start from: {', '.join(allowed)}")
    return loaded.generator.state_dict()


def init_sources(spec) -> tuple[str, ...]:
    """Families whose generators a family can start from (SRGAN: SRResNet's)."""
    from ganforge.models import MODELS

    return tuple(getattr(MODELS.get(spec.model.name), "init_sources", ()))
