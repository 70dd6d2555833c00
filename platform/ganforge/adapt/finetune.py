"""Fine-tuning baselines: ``finetune`` trains all of G and D adversarially on the few images (the
TransferGAN baseline, Wang et al. 2018); ``freezed`` does the same with D's lower layers frozen
(FreezeD, Mo et al. 2020). Both run the generate task's own step (train/step.py: the spec's loss,
regularizers, n_critic, DiffAugment) over the source's pretrained G and D."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.adapt import ADAPT_METHODS
from ganforge.adapt.base import AdaptMethod


class FineTune(AdaptMethod):
    """Shared by the fine-tuning methods: the source's G and D, the generate step."""

    needs_discriminator = True
    recommended = {"train": {"ema": 0.0, "batch_size": 25}}

    def check_source(self, spec, weights) -> None:
        # The meta records the data's classes; the generator is conditional only when its model says so.
        if weights.spec.get("model", {}).get("conditional") and int(weights.meta.get("num_classes", 0)):
            raise ValueError(f"adapt.method={spec.adapt.method} adapts unconditional generators; adapt.source is "
                             "conditional: use adapt.method: bsa (it replaces the class embedding)")

    def build_modules(self, spec, weights, meta, world, device):
        from ganforge.adapt.source import pretrained_pair
        from ganforge.train.setup import modules_from

        return modules_from(spec, lambda: pretrained_pair(weights), world, device)

    def build_step(self, spec, modules, rank, world, device):
        from ganforge.train.setup import build_step

        return build_step(spec, modules, rank, world, device)


@ADAPT_METHODS.register("finetune")
class FineTuneAll(FineTune):
    """Fine-tuning of G and D on the few images (TransferGAN)."""


class FreezeDOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    frozen_layers: int | None = Field(None, ge=0, description="D's lower layers (blocks) kept frozen (default: half of them)")


def d_layers(D: nn.Module) -> list[nn.Module]:
    """D's stack of layers from the image up (ResNet blocks, DCGAN's convs): the layers with weights
    of its first ``blocks``/``trunk``/``net``/``main`` sequence."""
    for name in ("blocks", "trunk", "net", "main"):
        stack = getattr(D, name, None)
        if isinstance(stack, (nn.Sequential, nn.ModuleList)):
            return [layer for layer in stack if any(True for _ in layer.parameters())]
    raise ValueError(f"adapt.method=freezed finds no layer stack in {type(D).__name__} (blocks, trunk, net or main)")


def frozen_count(D: nn.Module, frozen_layers: int | None) -> int:
    """How many lower layers freezed keeps (the setting, else half of D's stack)."""
    layers = d_layers(D)
    count = len(layers) // 2 if frozen_layers is None else frozen_layers
    if count >= len(layers):
        raise ValueError(f"adapt.settings.frozen_layers={count}: D has {len(layers)} layers; freeze fewer so that some learn")
    return count


@ADAPT_METHODS.register("freezed")
class FreezeD(FineTune):
    """Fine-tuning with D's lower layers frozen (FreezeD, Mo et al. 2020)."""

    Options = FreezeDOptions

    def build_modules(self, spec, weights, meta, world, device):
        from ganforge.train.optim import build_optimizer, build_scheduler

        modules = super().build_modules(spec, weights, meta, world, device)
        count = frozen_count(modules.D, self.options(spec).frozen_layers)
        frozen = {id(p) for layer in d_layers(modules.D)[:count] for p in layer.parameters()}
        # Only the upper layers are in D's optimizer: the step re-enables gradients on all of D
        # (train/step.py), and a parameter outside the optimizer is never updated.
        modules.opt_d = build_optimizer([p for p in modules.D.parameters() if id(p) not in frozen], spec.optim.d)
        modules.sched_d = build_scheduler(modules.opt_d, spec.schedule, spec.train.steps)
        return modules
