"""The ``unpaired`` task: translation between two image domains A and B learnt from images that do
not correspond, CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation
using Cycle-Consistent Adversarial Networks").

Data sets of this task return (a, b) image pairs drawn independently from the two domains
(data/unpaired.py). Model families build one module holding both generators (``G(x, "a2b")``,
``G(x, "b2a")``; forward defaults to a2b) and one holding both discriminators (``D(x, "a" | "b")``)
from (A's shape, B's shape), so the shared loop, EMA, checkpoints and optimizers stay unchanged.
The step (tasks/unpaired_step.py) adds the cycle and identity terms and the two image pools, kept
in ``GanModules.extras`` (so in checkpoints). Sample grids are rows a | G_AB(a) | G_BA(G_AB(a))
then b | G_BA(b) | G_AB(G_BA(b)) on held-out images; periodic evaluation reports FID both ways
beside the "did nothing" FID(A, B), and the cycle reconstruction L1 (metrics/unpaired.py).
"""
from __future__ import annotations

import torch

from ganforge.tasks import TASKS
from ganforge.tasks.base import Task
from ganforge.tasks.paired import as_rgb, held_out
from ganforge.tasks.unpaired_step import TERMS, UnpairedConfig, UnpairedStep, add_pools

GRID_ROWS = 4  # images per domain in a sample grid (each row: image | translated | reconstructed)
DEFAULT_POOL = 50


def objective(spec) -> dict[str, float]:
    """The loss-term weights of ``spec``: the family's paper values, overridden by loss.weights."""
    from ganforge.models import MODELS

    return {**getattr(MODELS.get(spec.model.name), "objective", {}), **spec.loss.weights}


def eval_extractor(spec) -> str:
    """The FID network of ``spec``: eval.extractor, where ``auto`` is the data set's own default
    (``domain:digits`` for the digits pairs), else the standard Inception."""
    from ganforge.data import DATASETS

    if spec.eval.extractor != "auto":
        return spec.eval.extractor
    return getattr(DATASETS.get(spec.data.name), "extractor", None) or "inception"


def held_out_domains(spec, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``limit`` held-out images of A and of B (data.split=test; else the training ones)."""
    from ganforge.metrics.unpaired import domain_images

    domains = held_out(spec)
    return domain_images(domains.a, limit), domain_images(domains.b, limit)


@TASKS.register("unpaired")
class UnpairedTask(Task):
    """Translation between two unpaired image domains A <-> B: CycleGAN."""

    name = "unpaired"
    default_metrics = ("fid", "cycle_l1")

    def check(self, spec) -> None:
        super().check(spec)
        unknown = sorted(set(spec.loss.weights) - set(TERMS))
        if unknown:
            raise ValueError(f"loss.weights: unknown term(s) {unknown}; the unpaired task's terms: {', '.join(TERMS)}")
        problems = {
            "loss.regularizers": (spec.loss.regularizers, "are terms of the generate task; an unpaired model's "
                                  f"terms are loss.weights ({', '.join(TERMS)})"),
            "augment.diffaugment": (spec.augment.diffaugment, "augments D's view in the generate task; augment "
                                    "the domains with augment.preset / augment.transforms"),
            "augment.ada": (spec.augment.ada, "adapts D's augmentation in the generate task; augment the domains "
                            "with augment.preset / augment.transforms"),
            "model.conditional": (spec.model.conditional, "is for class labels; an unpaired model is "
                                  "conditioned on its input image"),
            "model.init_from": (spec.model.init_from, "starts a paired model from another's weights; continue "
                                "an unpaired run with `ganforge train SPEC --resume RUN_ID`"),
            "loss.n_critic": (spec.loss.n_critic != 1, "must be 1: CycleGAN updates G and D once per batch"),
        }
        for key, (present, why) in problems.items():
            if present:
                raise ValueError(f"{key} {why}")

    def meta(self, dataset) -> dict:
        return {"img_shape": list(dataset.shape_b), "input_shape": list(dataset.shape_a),
                "shape_a": list(dataset.shape_a), "shape_b": list(dataset.shape_b), "scale": 1, "num_classes": 0}

    def build_pair(self, spec, meta):
        """(CycleGenerator, CycleDiscriminator) of the spec's unpaired family for A's and B's shapes."""
        from ganforge.models import MODELS

        return MODELS.get(spec.model.name).build(spec.model, tuple(meta["shape_a"]), tuple(meta["shape_b"]))

    def build_generator(self, spec, meta):
        return self.build_pair(spec, meta)[0]

    def build_modules(self, spec, meta, world=1, device="cpu"):
        from ganforge.train.setup import modules_from

        modules = modules_from(spec, lambda: self.build_pair(spec, meta), world, device)
        return add_pools(modules, int(spec.model.options.get("pool_size", DEFAULT_POOL)))

    def build_step(self, spec, modules, rank=0, world=1, device="cpu"):
        from ganforge.losses import build_loss

        from ganforge.train.setup import grad_scalers

        loss, _ = build_loss(spec.loss)
        device = torch.device(device)
        config = UnpairedConfig(objective(spec), spec.train.seed, rank, world, spec.train.ema, spec.train.ema_start,
                                spec.train.precision, device, grad_scalers(spec, modules, device))
        return UnpairedStep(modules, loss, config)

    def grid_inputs(self, spec, dataset, device):
        """The first held-out images of each domain, fixed for the run (no augmentation)."""
        a, b = held_out_domains(spec, min(GRID_ROWS, spec.train.grid_size))
        return a.to(device), b.to(device)

    @torch.no_grad()
    def sample_grid(self, generator, inputs):
        a, b = inputs
        size = a.shape[-1]
        rows = []
        for images, there, back in ((a, "a2b", "b2a"), (b, "b2a", "a2b")):
            translated = generator(images, there)
            parts = (images, translated, generator(translated, back))
            rows.append(torch.stack([as_rgb(part, size) for part in parts], dim=1).flatten(0, 1))
        return torch.cat(rows), 3  # A -> B -> A rows, then B -> A -> B rows

    def planned_keys(self, spec):
        from ganforge.metrics.extractor import planned_metric_tag
        from ganforge.metrics.unpaired import planned_keys

        metrics = spec.eval.metrics or self.default_metrics
        tag = planned_metric_tag(eval_extractor(spec)) if "fid" in metrics else None
        return planned_keys(metrics, tag) if spec.eval.every else []

    def build_evaluator(self, spec, device):
        from ganforge.metrics.unpaired import evaluate_unpaired, resolve

        a, b = held_out_domains(spec, spec.eval.n)
        metrics = list(spec.eval.metrics or self.default_metrics)
        extractor = resolve(eval_extractor(spec), device=device) if "fid" in metrics else None

        def evaluate(generator, best=None):
            results = evaluate_unpaired(generator, a, b, metrics, device, spec.eval.batch_size, extractor=extractor)
            if best is not None:
                results.update(best.update(results))
            return results

        evaluate.extractor = extractor
        return evaluate
