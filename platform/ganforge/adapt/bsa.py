"""Batch-statistics adaptation (Noguchi & Harada 2019, "Image Generation from Small Datasets via
Batch Statistics Adaptation"): the ``bsa`` method and its step.

Per step: a batch of training images (a seeded permutation, the same on every rank; rank r keeps
rows r::world), their latents plus N(0, latent_noise^2) noise through the adapted generator, and
the loss  l1 * L1 + perceptual * sum_layers L1(features) + emd * EMD(z_batch, N(0, I)) +
regulariser * (gamma -> 1, beta -> 0). The EMD term and the regulariser are computed identically
on every rank from the global batch, and the BatchNorm statistics are the source's running ones,
so 2 workers with B/2 images each update exactly as 1 worker with B (one flat all-reduce,
``apply_update``). Only the latents, the new scale/shift (and BigGAN's class map and
conditional-BN projections) receive gradients; every other pretrained weight stays bit-identical.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.adapt import ADAPT_METHODS
from ganforge.adapt.base import AdaptMethod
from ganforge.adapt.bsa_layers import BSA_FAMILIES, AdaptedGenerator
from ganforge.adapt.bsa_losses import build_features, emd_to_normal, perceptual_distance
from ganforge.noise import BatchRandom, derive_seed
from ganforge.train.step import GanModules, apply_update, update_ema


class BSAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    l1: float = Field(1.0, ge=0, description="weight of the L1 reconstruction of each training image")
    perceptual: float = Field(0.001, ge=0, description="weight of the perceptual term (summed over the network's layers)")
    emd: float = Field(0.1, ge=0, description="weight of the EMD pulling the per-image latents towards N(0, I)")
    regulariser: float = Field(0.02, ge=0, description="weight of the pull of gamma to 1 and beta to 0")
    perceptual_network: Literal["auto", "vgg16", "inception", "none"] = Field(
        "auto", description="vgg16 (local torchvision weights), inception (the setup's port), auto: vgg16 when its weights are found")
    perceptual_weights: str | None = Field(None, description="local weights file of the perceptual network (default: GANFORGE_VGG16_WEIGHTS)")
    latent_lr: float = Field(0.05, gt=0, description="learning rate of the per-image latents (the reference's 0.05)")
    projection_lr: float = Field(5e-4, gt=0, description="learning rate of pretrained weights BSA trains (BigGAN's conditional-BN projections)")
    latent_noise: float = Field(0.01, ge=0, description="std of the noise added to a latent each time it is used")
    emd_samples: int = Field(10, ge=1, description="N(0, I) reference points per latent in the EMD term")
    class_id: int = Field(0, ge=0, description="the class a conditional SNGAN source is run with")


@dataclass
class BSAConfig:
    """How a BSA step runs: loss weights, noise, seeds, distribution."""

    options: BSAOptions
    batch: int  # global batch
    seed: int = 0
    rank: int = 0
    world: int = 1
    ema_decay: float = 0.0
    ema_start: int = 0


class NoDiscriminator(nn.Module):
    """BSA trains no discriminator; the loop's modules have one: this placeholder (one frozen scalar)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()), requires_grad=False)

    def forward(self, x, y=None):
        raise RuntimeError("adapt.method=bsa has no discriminator")


def batch_indices(n_images: int, batch: int, seed: int, step: int) -> torch.Tensor:
    """The global batch of image indices at ``step``: a seeded permutation (repeated when the
    batch is larger than the set), the same on every rank."""
    generator = torch.Generator().manual_seed(derive_seed(seed, step, "bsa-batch"))
    rounds = -(-batch // n_images)
    return torch.cat([torch.randperm(n_images, generator=generator) for _ in range(rounds)])[:batch]


class BSAStep:
    """One update of the BSA parameters on a batch of (training image, its latent) pairs."""

    def __init__(self, modules: GanModules, targets: torch.Tensor, features: nn.Module | None, config: BSAConfig):
        self.m, self.targets, self.features, self.cfg = modules, targets, features, config
        self.o = config.options
        self.params = [p for p in modules.G.parameters() if p.requires_grad]
        self._wanted = None  # the targets' features, computed once (the targets never change)

    def _target_features(self) -> list[torch.Tensor]:
        if self._wanted is None:
            with torch.no_grad():
                self._wanted = [f.detach() for f in self.features(self.targets)]
        return self._wanted

    def terms(self, step: int) -> list[tuple[str, torch.Tensor]]:
        """(metric name, weighted term) of this step's loss (the graph kept for backward)."""
        G, cfg, o = self.m.G, self.cfg, self.o
        indices = batch_indices(len(self.targets), cfg.batch, cfg.seed, step).to(self.targets.device)
        local = indices[cfg.rank :: cfg.world]
        noise = BatchRandom(cfg.seed, step, "bsa-noise", cfg.rank, cfg.world, self.targets.device)
        fake = G.reconstruct(local, noise.randn(len(local), G.z_dim) * o.latent_noise)
        terms = [("g_l1", o.l1 * F.l1_loss(fake, self.targets[local]))]
        if self.features is not None and o.perceptual:
            wanted = [w[local] for w in self._target_features()]
            terms.append(("g_perceptual", o.perceptual * perceptual_distance(self.features(fake), wanted)))
        if o.emd:
            reference = BatchRandom(cfg.seed, step, "bsa-emd", device=self.targets.device).randn(
                o.emd_samples * cfg.batch, G.z_dim)  # the global batch's, on every rank alike
            terms.append(("g_emd", o.emd * emd_to_normal(G.latents[indices], reference)))
        if o.regulariser:
            terms.append(("g_reg", o.regulariser * G.regulariser()))
        return terms

    def __call__(self, batches, step: int) -> dict:
        """A full step (the loop's real batches are not used: each image is paired with its latent)."""
        m = self.m
        m.opt_g.zero_grad(set_to_none=True)
        terms = self.terms(step)
        total = sum(value for _, value in terms)
        total.backward()
        losses = torch.stack([total.detach()] + [value.detach().float() for _, value in terms])
        names = ["g_loss"] + [name for name, _ in terms]
        values = apply_update(m.opt_g, self.params, losses, names, step, self.cfg.world,
                              "Lower optim.g.lr or adapt.settings.latent_lr.")
        m.sched_g.step()
        if m.G_ema is not None:
            update_ema(m.G_ema, m.G, self.cfg.ema_decay if step >= self.cfg.ema_start else 0.0)
        return values


def _groups(G: AdaptedGenerator, options: BSAOptions) -> list[dict]:
    """Optimizer parameter groups: new scale/shift at optim.g.lr, latents and pretrained ones at theirs."""
    groups = G.parameter_groups()
    return [group for group in ({"params": groups["scale_shift"]},
                                {"params": groups["latents"], "lr": options.latent_lr},
                                {"params": groups["pretrained"], "lr": options.projection_lr}) if group["params"]]


@ADAPT_METHODS.register("bsa")
class BatchStatisticsAdaptation(AdaptMethod):
    """Batch-statistics adaptation (Noguchi & Harada 2019): only scale/shift and per-image latents learn."""

    Options = BSAOptions
    recommended = {"train": {"ema": 0.0, "batch_size": 25},
                   "optim": {"g": {"name": "adam", "lr": 0.03, "betas": [0.9, 0.999]}},
                   "schedule": {"name": "step", "options": {"step_size": 3000, "gamma": 0.1}}}

    def check(self, spec) -> None:
        augment = spec.augment
        if augment.preset != "none" or augment.transforms or augment.diffaugment or augment.ada:
            raise ValueError("adapt.method=bsa reconstructs each training image from its own latent: remove the augment "
                             "section (finetune and freezed take augment.diffaugment or augment.ada)")

    def check_source(self, spec, weights) -> None:
        if weights.family not in BSA_FAMILIES:
            raise ValueError(f"adapt.method=bsa adapts {', '.join(BSA_FAMILIES.names())} generators; "
                             f"adapt.source is a {weights.family}: use adapt.method: finetune or freezed")

    def build_generator(self, spec, source, family, meta):
        return AdaptedGenerator(source, family, int(meta["images"]), self.options(spec).class_id)

    def build_modules(self, spec, weights, meta, world, device):
        from ganforge.adapt.source import pretrained_pair
        from ganforge.train.optim import build_optimizer, build_scheduler

        torch.manual_seed(derive_seed(spec.train.seed, "init"))  # the class map's init, alike on every rank
        source, _ = pretrained_pair(weights)
        G = self.build_generator(spec, source, weights.family, meta).to(device)
        G_ema = copy.deepcopy(G).eval().requires_grad_(False) if spec.train.ema > 0 else None
        D = NoDiscriminator().to(device)
        opt_g = build_optimizer(_groups(G, self.options(spec)), spec.optim.g)
        opt_d = torch.optim.SGD(D.parameters(), lr=0.0)
        steps = spec.train.steps
        return GanModules(G, D, G_ema, opt_g, opt_d, build_scheduler(opt_g, spec.schedule, steps),
                          build_scheduler(opt_d, spec.schedule, steps))

    def build_step(self, spec, modules, rank, world, device):
        from ganforge.data import build_dataset

        options = self.options(spec)
        dataset = build_dataset(spec.data)  # without augmentation: the images the latents reconstruct
        targets = torch.stack([dataset[i][0] for i in range(len(dataset))]).to(device)
        features = build_features(options.perceptual_network, options.perceptual_weights)
        features = features.to(device) if features is not None and options.perceptual else None
        config = BSAConfig(options, spec.train.batch_size, spec.train.seed, rank, world, spec.train.ema, spec.train.ema_start)
        return BSAStep(modules, targets, features, config)
