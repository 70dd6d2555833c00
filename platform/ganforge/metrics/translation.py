"""Evaluate an image-to-image model (pix2pix, SRResNet, SRGAN) on held-out (input, target) pairs.

:func:`evaluate_translation` runs ``translate`` over a PairedDataset once and reports each
requested metric for the model and, under ``baseline.<key>``, for the baseline a paper would put
beside it: bicubic upsampling of the input for super-resolution (scale > 1), the input itself
for same-size translation. Outputs, targets and baselines are rounded to 8 bits first (every
metric scores the image a user would save), then:

- ``psnr_y``, ``ssim_y``: the SR literature's convention (:mod:`ganforge.metrics.sr_convention`:
  BT.601 Y, ``scale`` px border cropped; torchmetrics' PSNR, piq's SSIM);
- ``ms_ssim``: :func:`ganforge.metrics.paired.ms_ssim` on all channels at L = 255, with as many
  of its five scales as the image size allows (weights renormalised); ours because piq zero-pads
  odd sizes when it halves and torchmetrics averages padded borders (Wang's code does neither);
- ``l1``: mean absolute error in [-1, 1] units (the scale of the training loss);
- ``lpips``: :mod:`ganforge.metrics.lpips` (VGG16), when its weights are on disk;
- ``fid``: FID of the outputs against the targets, features from :mod:`ganforge.metrics.extractor`
  and the distance from :mod:`ganforge.metrics.fid`; keys carry a non-standard extractor's tag.

Everything that can fail (names, weights, image sizes) fails before the first image.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import torch
from PIL import Image

from ganforge.metrics.evaluation import eval_mode
from ganforge.metrics.paired import MS_SSIM_WEIGHTS, ms_ssim
from ganforge.metrics.sr_convention import psnr_y, ssim_y, to_8bit
from ganforge.registry import Registry

from ganforge.metrics.best import BASELINE_PREFIX  # noqa: E402 - one definition, shared with BestTracker
TRANSLATION_METRICS: Registry = Registry("translation metric")
Translate = Callable[[torch.Tensor], torch.Tensor]
LUMA = (0.299, 0.587, 0.114)  # BT.601 luma weights, for an RGB input beside a grey target


@dataclass
class Context:
    """What a metric may use to prepare itself: the pairs' geometry and where to compute."""

    scale: int
    img_shape: tuple[int, int, int]
    n: int  # pairs evaluated
    device: torch.device | str = "cpu"
    extractor: Any = "inception"  # a name for resolve_extractor, or a loaded Extractor
    inception_weights: str | None = None
    lpips_network: Any = None


@dataclass(frozen=True)
class TranslationMetric:
    """A registered paired metric: ``prepare(context)`` -> a fresh :class:`Accumulator` factory."""

    name: str
    prepare: Callable[[Context], Callable[[], "Accumulator"]]
    lower_is_better: tuple[str, ...] = ()
    higher_is_better: tuple[str, ...] = ()


class Accumulator:
    """Collects one metric over batches; ``memo`` is shared by the model's and the baseline's."""

    def add(self, outputs: torch.Tensor, targets: torch.Tensor, memo: dict) -> None:
        raise NotImplementedError

    def result(self) -> dict[str, float]:
        raise NotImplementedError


@dataclass
class PerImage(Accumulator):
    """The mean over images of a per-image value ``fn(outputs, targets) -> [B]``."""

    key: str
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    values: list = field(default_factory=list)

    def add(self, outputs, targets, memo):
        self.values.append(self.fn(outputs, targets).double().cpu())

    def result(self):
        return {self.key: torch.cat(self.values).mean().item()}


def per_image(name: str, higher_is_better: bool):
    """Decorator: register ``make(context) -> fn(outputs, targets) -> [B]`` as metric ``name``."""
    def register(make: Callable[[Context], Callable]) -> Callable:
        def prepare(context: Context):
            fn = make(context)
            return lambda: PerImage(name, fn)

        directions = {"higher_is_better" if higher_is_better else "lower_is_better": (name,)}
        TRANSLATION_METRICS.register(name)(TranslationMetric(name, prepare, **directions))
        return make
    return register


@per_image("psnr_y", higher_is_better=True)
def _psnr_y(context: Context):
    """PSNR (dB) on BT.601 Y, ``scale`` px border cropped (BasicSR's convention)."""
    return lambda out, target: psnr_y(out, target, context.scale, reduction="none")


@per_image("ssim_y", higher_is_better=True)
def _ssim_y(context: Context):
    """SSIM on BT.601 Y, ``scale`` px border cropped (BasicSR's convention)."""
    return lambda out, target: ssim_y(out, target, context.scale, reduction="none")


def fitting_ms_ssim_weights(size: int, win_size: int = 11) -> tuple[float, ...]:
    """The first k of MS-SSIM's five scale weights, renormalised, for the largest k that fits ``size`` px."""
    fits = [k for k in range(1, len(MS_SSIM_WEIGHTS) + 1) if size >= (win_size - 1) * 2 ** (k - 1) + 1]
    if not fits:
        raise ValueError(f"ms_ssim needs images of at least {win_size} px, the pairs' targets are {size} px; "
                         "leave ms_ssim out of eval.metrics")
    weights = MS_SSIM_WEIGHTS[:fits[-1]]
    return weights if len(weights) == len(MS_SSIM_WEIGHTS) else tuple(w / sum(weights) for w in weights)


@per_image("ms_ssim", higher_is_better=True)
def _ms_ssim(context: Context):
    """Multi-scale SSIM on 8-bit RGB (as many of the five scales as the size allows)."""
    weights = fitting_ms_ssim_weights(min(context.img_shape[-2:]))
    return lambda out, target: ms_ssim(to_8bit(out), to_8bit(target), data_range=255.0, weights=weights,
                                       reduction="none")


@per_image("l1", higher_is_better=False)
def _l1(context: Context):
    """Mean absolute error in [-1, 1] units."""
    return lambda out, target: (out - target).abs().flatten(1).mean(1)


@per_image("lpips", higher_is_better=False)
def _lpips(context: Context):
    """LPIPS (VGG16) distance; its weights are loaded here, so a missing file fails before any image."""
    from ganforge.metrics.lpips import load_lpips

    network = context.lpips_network or load_lpips(device=context.device)
    return lambda out, target: network(out.float(), target.float())


@dataclass
class FidAccumulator(Accumulator):
    """Features of outputs (and, once per batch in ``memo``, of targets); FID between them."""

    extractor: Any
    outputs: list = field(default_factory=list)
    targets: list = field(default_factory=list)

    def add(self, outputs, targets, memo):
        if "fid.targets" not in memo:
            memo["fid.targets"] = self.extractor.features(targets.float())["pool"]
        self.targets.append(memo["fid.targets"])
        self.outputs.append(self.extractor.features(outputs.float())["pool"])

    def result(self):
        from torch_fidelity.metric_fid import fid_features_to_statistics

        from ganforge.metrics.base import RealStats
        from ganforge.metrics.evaluation import evaluate_features
        from ganforge.metrics.names import qualify

        targets = torch.cat(self.targets)
        stats = fid_features_to_statistics(targets)
        real = RealStats(targets, stats["mu"], stats["sigma"])
        value = evaluate_features(["fid"], {"pool": torch.cat(self.outputs)}, real)["fid"]
        return {qualify("fid", self.extractor.metric_tag): value}


def _prepare_fid(context: Context):
    """Resolve the extractor (and its weights) now; FID needs at least 2 pairs."""
    from ganforge.metrics.extractor import ExtractorContext, resolve_extractor

    if context.n < 2:
        raise ValueError(f"fid compares feature distributions and needs at least 2 pairs, got {context.n}; "
                         "evaluate on more held-out pairs or leave fid out of eval.metrics")
    extractor = context.extractor
    if isinstance(extractor, str):
        extractor = resolve_extractor(extractor, ExtractorContext(device=context.device,
                                                                  inception_weights=context.inception_weights))
    return lambda: FidAccumulator(extractor)


TRANSLATION_METRICS.register("fid")(TranslationMetric("fid", _prepare_fid, lower_is_better=("fid",)))


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey repeated to RGB, or RGB to BT.601 luma, so a baseline has the target's channels."""
    if images.shape[1] == channels:
        return images
    if images.shape[1] == 1:
        return images.expand(-1, channels, -1, -1)
    luma = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * luma).sum(dim=1, keepdim=True)


def bicubic_upsample(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """PIL's bicubic resize of 8-bit images (Keys a = -0.5, MATLAB imresize's kernel) to ``size`` (H, W)."""
    pixels = to_8bit(images).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    resized = [np.asarray(Image.fromarray(p.squeeze(-1) if p.shape[-1] == 1 else p).resize(size[::-1], Image.BICUBIC))
               for p in pixels]
    batch = torch.from_numpy(np.stack(resized)).reshape(len(resized), *size, -1).permute(0, 3, 1, 2)
    return batch.to(images.device, torch.float64) / 127.5 - 1


def baseline(inputs: torch.Tensor, target_shape: torch.Size, scale: int) -> torch.Tensor:
    """Bicubic upsampling of the input when ``scale`` > 1, else the input itself, at the target's shape."""
    images = bicubic_upsample(inputs, tuple(target_shape[-2:])) if scale > 1 else inputs.double()
    if images.shape[-2:] != target_shape[-2:]:
        raise ValueError(f"inputs of {tuple(inputs.shape[-2:])} px at scale {scale} do not give the targets' "
                         f"{tuple(target_shape[-2:])} px; check the data set's scale")
    return match_channels(images, target_shape[1])


def resolve_metrics(metrics: str | Iterable[str]) -> list[TranslationMetric]:
    """The registered translation metrics ``metrics`` names (a list or "psnr_y,ssim_y"), in order."""
    names = metrics.split(",") if isinstance(metrics, str) else metrics
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise ValueError(f"no metrics requested; valid: {', '.join(TRANSLATION_METRICS.names())}")
    return [TRANSLATION_METRICS.get(name) for name in dict.fromkeys(names)]


def planned_keys(metrics: str | Iterable[str], extractor_tag: str | None = None) -> list[str]:
    """The keys :func:`evaluate_translation` returns for ``metrics`` (baselines included), without
    loading anything; ``extractor_tag``: the FID network's :attr:`Extractor.metric_tag`."""
    from ganforge.metrics.names import qualify

    keys = [key for d in resolve_metrics(metrics) for key in (*d.lower_is_better, *d.higher_is_better)]
    keys = [qualify(key, extractor_tag) if key == "fid" else key for key in keys]
    return keys + [BASELINE_PREFIX + key for key in keys]


def directions() -> dict[str, bool]:
    """plain key -> True when lower is better, for every translation metric (for BestTracker)."""
    table: dict[str, bool] = {}
    for _, definition in TRANSLATION_METRICS.items():
        table.update({key: True for key in definition.lower_is_better})
        table.update({key: False for key in definition.higher_is_better})
    return table


def check_geometry(pairs, scale: int) -> None:
    """The pairs' input and target sizes agree with ``scale``, or one line saying what does not."""
    (_, h, w), (_, H, W) = pairs.input_shape[-3:], pairs.img_shape[-3:]
    if scale < 1 or (h * scale, w * scale) != (H, W):
        raise ValueError(f"scale {scale} does not map inputs of {h}x{w} px to targets of {H}x{W} px; "
                         "pass the data set's own scale (pairs.scale)")


def quantised(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images on the 8-bit grid (float64), as they would be saved."""
    return to_8bit(images) / 127.5 - 1


@torch.no_grad()
def translated(translate: Translate, inputs: torch.Tensor, target_shape: torch.Size) -> torch.Tensor:
    """``translate(inputs)``, checked to have the targets' shape."""
    outputs = translate(inputs)
    if outputs.shape != target_shape:
        raise ValueError(f"the model maps inputs {tuple(inputs.shape)} to {tuple(outputs.shape)}, "
                         f"but the targets are {tuple(target_shape)}")
    return outputs


def evaluate_translation(translate: Translate, pairs, scale: int, metrics: str | Iterable[str],
                         device: torch.device | str = "cpu", batch_size: int = 16, *, extractor: Any = "inception",
                         inception_weights: str | None = None, lpips_network=None) -> dict[str, float]:
    """Metrics of ``translate`` (G: [B, Ci, h, w] -> [B, Co, H, W] in [-1, 1]) over the ``pairs``,
    and the same metrics of the baseline under ``baseline.<key>``.

    ``pairs``: a PairedDataset ((input, target) float CHW in [-1, 1]; ``input_shape``, ``img_shape``).
    ``extractor``: the FID network's name (or a loaded Extractor); ``lpips_network``: a loaded LPIPS.
    Returns e.g. ``{"psnr_y": 27.1, "ssim_y": 0.81, "baseline.psnr_y": 25.9, "baseline.ssim_y": 0.74}``.
    """
    definitions = resolve_metrics(metrics)
    check_geometry(pairs, scale)
    if len(pairs) == 0:
        raise ValueError("no pairs to evaluate: the held-out split is empty; check data.split and data.limit")
    context = Context(scale, tuple(pairs.img_shape), len(pairs), device, extractor, inception_weights, lpips_network)
    factories = [definition.prepare(context) for definition in definitions]
    model, base = [make() for make in factories], [make() for make in factories]
    loader = torch.utils.data.DataLoader(pairs, batch_size=batch_size, shuffle=False, num_workers=0)
    module = translate if isinstance(translate, torch.nn.Module) else torch.nn.Identity()
    with eval_mode(module):  # BatchNorm's running statistics, no dropout: the model as served
        for inputs, targets in loader:
            inputs, targets = inputs.to(device), targets.to(device)
            outputs = quantised(translated(translate, inputs, targets.shape))
            references, memo = quantised(targets), {}
            for accumulator in model:
                accumulator.add(outputs, references, memo)
            baseline_outputs = quantised(baseline(inputs, targets.shape, scale))
            for accumulator in base:
                accumulator.add(baseline_outputs, references, memo)
    results = {key: value for accumulator in model for key, value in accumulator.result().items()}
    results.update({BASELINE_PREFIX + key: value for accumulator in base for key, value in accumulator.result().items()})
    return results
