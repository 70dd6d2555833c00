"""The ``generate`` task: G(z, y) from noise (and class labels), the zoo's unconditional and
conditional GANs. Its pieces predate tasks and live where they were (train/setup.py,
train/step.py, metrics.Evaluator); this entry only points at them."""
from __future__ import annotations

import torch

from ganforge.noise import BatchRandom
from ganforge.tasks import TASKS
from ganforge.tasks.base import Task


@TASKS.register("generate")
class GenerateTask(Task):
    """G(z, y): images from noise (and labels), every model family of the zoo."""

    name = "generate"
    default_metrics = ("fid", "kid")

    def check(self, spec) -> None:
        super().check(spec)
        if spec.loss.weights:
            raise ValueError(f"loss.weights {sorted(spec.loss.weights)} weigh a paired model's terms; a generate "
                             "model's extra terms are loss.regularizers (each with its weight)")
        if spec.model.init_from:
            raise ValueError("model.init_from starts a paired model from another's weights (SRGAN from SRResNet); "
                             "to continue a generate run use `ganforge train SPEC --resume RUN_ID`")

    def evaluate_commands(self, source):
        return [f"ganforge evaluate {source} --metrics fid,kid --n 2000"]

    def build_modules(self, spec, meta, world=1, device="cpu"):
        from ganforge.train.setup import build_modules

        return build_modules(spec, tuple(meta["img_shape"]), meta["num_classes"], world, device)

    def build_step(self, spec, modules, rank=0, world=1, device="cpu"):
        from ganforge.train.setup import build_step

        return build_step(spec, modules, rank, world, device)

    def grid_inputs(self, spec, dataset, device):
        """Fixed latents (and labels cycling through the classes) from the run's seed."""
        return {"n": spec.train.grid_size, "seed": spec.train.seed, "device": device}

    @torch.no_grad()
    def sample_grid(self, generator, inputs):
        n, device = inputs["n"], inputs["device"]
        z = BatchRandom(inputs["seed"], 0, "grid", device=device).randn(n, generator.z_dim)
        y = torch.arange(n, device=device) % generator.num_classes if generator.num_classes else None
        return generator(z, y), max(1, int(n ** 0.5))

    def planned_keys(self, spec):
        from ganforge.metrics.evaluation import planned_keys

        return planned_keys(spec) if spec.eval.metrics else []

    def build_evaluator(self, spec, device):
        from ganforge.metrics import Evaluator

        return Evaluator.from_spec(spec, device=device, options=spec.eval.options or None)

    def build_generator(self, spec, meta):
        from ganforge.models import build_models

        generator, _ = build_models(spec.model, tuple(meta["img_shape"]), meta["num_classes"])
        return generator
