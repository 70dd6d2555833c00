"""FastGAN (Liu, Zhu, Song & Elgammal 2021, "Towards Faster and Stabilized GAN Training for
High-fidelity Few-shot Image Synthesis", ICLR).

- G: z -> 4x4 (transposed conv, BN, GLU), then (upsample, 3x3 conv, BN, GLU) per resolution, with
  skip-layer excitation (SLE): the 4x4 (8x8, 16x16, ...) features gate the channels of the
  features ``sle_ratio`` times larger (paper, 256 px: 4->64, 8->128, 16->256);
- D: residual down-blocks to 8x8 and a patch head (logits averaged over the 5x5 patches), plus
  two small decoders used as a self-supervised regulariser: one reconstructs the whole image
  from the 8x8 features, the other a random quadrant of the image from that quadrant of the
  16x16 features (at ``decoder_res``, paper 128). The reconstruction loss (L1 or LPIPS) is the
  ``reconstruction`` regularizer in losses/reconstruction.py (the family adds it to the spec), on real
  images only, as in the paper; the quadrant is drawn per sample from the step's BatchRandom;
- hinge loss; ``sle: false`` / ``decoders: false`` give the ablation baseline.
D returns ``FastGANDOutput`` (logits plus the features and the image D saw, so the targets are
the augmented images when DiffAugment is on). Simplified: one conv per up-block (the official
UpBlockComp's second conv and noise injection are left out).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS

# Channel multipliers of the base width per resolution (official code's nfc_multi).
MULT = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}


class FastGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=2, description="generator base width (paper: 64)")
    ndf: int = Field(64, ge=2, description="discriminator base width (paper: 64)")
    sle: bool = Field(True, description="skip-layer excitation in G (off: ablation baseline)")
    sle_ratio: int = Field(16, ge=2, description="resolution ratio of SLE pairs (paper: 16; use 8 below 64 px)")
    decoders: bool = Field(True, description="self-supervised decoders on D (off: ablation baseline)")
    decoder_res: int = Field(128, ge=8, description="resolution the decoders reconstruct (capped at the image's)")


def widths(base: int) -> dict[int, int]:
    """Channels per resolution for base width ``base``."""
    return {res: max(1, int(m * base)) for res, m in MULT.items()}


def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """Upsample x2, 3x3 conv to 2*c_out, BN, GLU (-> c_out channels)."""
    return nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(c_in, 2 * c_out, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(2 * c_out), nn.GLU(dim=1))


class SLE(nn.Module):
    """Skip-layer excitation: high * sigmoid(conv1x1(swish(conv4x4(avgpool4(low)))))."""

    def __init__(self, c_low: int, c_high: int):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False),
                                  nn.SiLU(), nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


def check_resolution(resolution: int) -> None:
    """FastGAN runs at powers of two from 16 to 1024 px."""
    if resolution not in MULT or resolution < 16:
        raise ValueError(f"fastgan needs a power-of-two resolution in 16..1024, got {resolution}")


class FastGANGenerator(nn.Module):
    """z [B, z_dim] -> images in [-1, 1] with SLE gates."""

    def __init__(self, z_dim: int, img_shape, opts: FastGANOptions):
        super().__init__()
        check_resolution(img_shape[1])
        self.z_dim, self.num_classes, self.img_shape = z_dim, 0, tuple(img_shape)
        nfc, res = widths(opts.ngf), img_shape[1]
        self.init = nn.Sequential(nn.ConvTranspose2d(z_dim, 2 * nfc[4], 4, 1, 0, bias=False),
                                  nn.BatchNorm2d(2 * nfc[4]), nn.GLU(dim=1))
        self.resolutions = [4 * 2**i for i in range(1, int(math.log2(res / 4)) + 1)]
        self.ups = nn.ModuleDict({str(r): up_block(nfc[r // 2], nfc[r]) for r in self.resolutions})
        pairs = [(r // opts.sle_ratio, r) for r in self.resolutions if r // opts.sle_ratio >= 4] if opts.sle else []
        self.sle = nn.ModuleDict({str(hi): SLE(nfc[lo], nfc[hi]) for lo, hi in pairs})
        self.sle_source = {hi: lo for lo, hi in pairs}
        self.to_rgb = nn.Conv2d(nfc[res], img_shape[0], 3, 1, 1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        feats = {4: self.init(z[:, :, None, None])}
        for r in self.resolutions:
            h = self.ups[str(r)](feats[r // 2])
            if r in self.sle_source:
                h = self.sle[str(r)](feats[self.sle_source[r]], h)
            feats[r] = h
        return torch.tanh(self.to_rgb(feats[self.resolutions[-1]]))


class DownBlock(nn.Module):
    """Residual down-block: (conv4x4 s2, BN, LReLU, conv3x3, BN, LReLU) + (avgpool, 1x1, BN, LReLU), halved."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.main = nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2),
                                  nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))
        self.direct = nn.Sequential(nn.AvgPool2d(2), nn.Conv2d(c_in, c_out, 1, bias=False),
                                    nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


def decoder(c_in: int, out_res: int, channels: int, out_channels: int) -> nn.Sequential:
    """8x8 features -> [B, C, out_res, out_res] image in [-1, 1] (up-blocks, 3x3 conv, tanh)."""
    layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(8)]
    c = c_in
    for _ in range(int(math.log2(out_res / 8))):
        layers.append(up_block(c, channels))
        c = channels
    return nn.Sequential(*layers, nn.Conv2d(c, out_channels, 3, 1, 1), nn.Tanh())


@dataclass
class FastGANDOutput:
    """D's result: logits [B], the 8x8 and 16x16 features, and the image D was given."""

    logits: torch.Tensor
    feat8: torch.Tensor
    feat16: torch.Tensor
    image: torch.Tensor


class FastGANDiscriminator(nn.Module):
    """Down-blocks to 8x8, patch logits; ``decode`` reconstructs for the self-supervised loss."""

    def __init__(self, img_shape, opts: FastGANOptions):
        super().__init__()
        check_resolution(img_shape[1])
        nfc, res = widths(opts.ndf), img_shape[1]
        self.stem = nn.Sequential(nn.Conv2d(img_shape[0], nfc[res], 3, 1, 1, bias=False), nn.LeakyReLU(0.2))
        self.downs = nn.ModuleList(DownBlock(nfc[r], nfc[r // 2]) for r in [res // 2**i for i in range(int(math.log2(res / 8)))])
        self.head = nn.Sequential(nn.Conv2d(nfc[8], nfc[4], 1, 1, 0, bias=False), nn.BatchNorm2d(nfc[4]),
                                  nn.LeakyReLU(0.2), nn.Conv2d(nfc[4], 1, 4, 1, 0, bias=False))
        self.decoder_res = min(opts.decoder_res, res)
        dec = lambda c: decoder(c, self.decoder_res, max(1, opts.ndf // 2), img_shape[0])  # noqa: E731
        self.decoders = nn.ModuleDict({"whole": dec(nfc[8]), "part": dec(nfc[16])}) if opts.decoders else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> FastGANDOutput:
        h = self.stem(x)
        feats = {h.shape[-1]: h}
        for block in self.downs:
            h = block(h)
            feats[h.shape[-1]] = h
        return FastGANDOutput(self.head(h).mean(dim=(1, 2, 3)), h, feats[16], x)

    def decode(self, out: FastGANDOutput, quadrant: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(whole-image reconstruction, reconstruction of each sample's ``quadrant`` (0..3))."""
        return self.decoders["whole"](out.feat8), self.decoders["part"](crop_quadrants(out.feat16, quadrant))


def crop_quadrants(x: torch.Tensor, quadrant: torch.Tensor) -> torch.Tensor:
    """Per-sample quadrant of ``x`` [B, C, H, W]: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    rows = [x[i, :, (q // 2) * h:(q // 2) * h + h, (q % 2) * w:(q % 2) * w + w] for i, q in enumerate(quadrant.tolist())]
    return torch.stack(rows)


@MODELS.register("fastgan")
class FastGAN:
    """FastGAN (Liu et al. 2021): SLE generator, self-supervised D with decoders."""

    Options = FastGANOptions
    regularizers = ({"name": "reconstruction"},)  # a no-op when the decoders are switched off

    @staticmethod
    def build(spec, img_shape, num_classes):
        if spec.conditional:
            raise ValueError("fastgan is unconditional: set model.conditional=false")
        opts = FastGANOptions(**spec.options)
        return FastGANGenerator(spec.z_dim, img_shape, opts), FastGANDiscriminator(img_shape, opts)
