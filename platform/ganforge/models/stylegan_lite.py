"""StyleGAN-lite: a DCGAN-scale style-based generator (Karras, Laine & Aila 2019, "A Style-Based
Generator Architecture for Generative Adversarial Networks") — the "DCGAN + StyleGAN" fusion.

- mapping network Z -> W: pixel-normalised z (with a label embedding when conditional) through an
  MLP with LeakyReLU(0.2);
- synthesis network: a learned constant 4x4 input, then one (upsample, 3x3 conv) layer per
  resolution, each followed by per-layer noise (learned per-channel scale), LeakyReLU and AdaIN
  (instance norm, then a per-channel scale/shift from an affine map of w); a 1x1 conv + tanh;
- ``mapping(z, y)``/``synthesis(w)`` for W-space interpolation, and ``generate_truncated(z, y,
  psi)``: w' = w_avg + psi (w - w_avg), w_avg the mean of w over a fixed set of latents.

Simplified w.r.t. the paper: one conv per resolution, no equalised learning rate or mapping
lr multiplier, no progressive growing or style mixing. D is the DCGAN discriminator (no
normalisation, spectral norm on by default); the job spec pairs it with R1 as the paper does.

Noise: per-sample noise is drawn from a generator seeded by the bytes of the sample's latent
(``noise_key``: z in ``forward``), so a sample's noise does not depend on its batch or on the
DDP sharding (2 workers x B equals 1 x 2B) and samples are reproducible. ``noise_mode="const"``
uses one fixed noise map per layer instead.
"""
from __future__ import annotations

import hashlib
import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.dcgan import DCGANDiscriminator, DCGANOptions


class StyleGANLiteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngf: int = Field(64, ge=4, description="synthesis width at the output resolution (doubles per level down)")
    ndf: int = Field(64, ge=4, description="discriminator width (DCGAN discriminator)")
    w_dim: int = Field(128, ge=1, description="dimension of the intermediate latent w")
    mapping_layers: int = Field(4, ge=1, description="layers of the mapping MLP (paper: 8)")
    embed_dim: int = Field(32, ge=1, description="label embedding size (conditional mapping)")
    noise_mode: Literal["random", "const", "off"] = Field("random", description="per-layer noise: per-sample, fixed maps or none")
    spectral_norm_d: bool = Field(True, description="spectral norm in the discriminator")
    w_avg_samples: int = Field(1024, ge=1, description="latents averaged for w_avg (truncation)")


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2)) per sample."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


def keyed_noise(keys: torch.Tensor, layer: int, size: int) -> torch.Tensor:
    """[B, 1, size, size] standard-normal noise seeded by each row of ``keys`` and the layer."""
    rows = []
    for row in keys.detach().float().cpu().numpy():
        seed = int.from_bytes(hashlib.blake2b(row.tobytes() + bytes([layer]), digest_size=8).digest(), "little")
        rows.append(torch.randn(1, size, size, generator=torch.Generator().manual_seed(seed >> 1)))
    return torch.stack(rows).to(keys.device)


class StyleLayer(nn.Module):
    """[upsample, conv3x3] -> + noise * scale -> bias, LeakyReLU -> AdaIN(w)."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, size: int, conv: bool):
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1) if conv else None
        self.noise_scale = nn.Parameter(torch.zeros(c_out))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.style = nn.Linear(w_dim, 2 * c_out)
        self.register_buffer("const_noise", torch.randn(1, 1, size, size))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(F.interpolate(x, scale_factor=2))
        if noise is not None:
            x = x + self.noise_scale.view(1, -1, 1, 1) * noise
        x = F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2)
        scale, shift = self.style(w).chunk(2, dim=1)
        return F.instance_norm(x) * (1 + scale[:, :, None, None]) + shift[:, :, None, None]


class StyleGenerator(nn.Module):
    """Mapping + synthesis; G(z, y) = synthesis(mapping(z, y), noise_key=z)."""

    def __init__(self, z_dim: int, img_shape: tuple[int, int, int], num_classes: int, opts: StyleGANLiteOptions):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = z_dim, num_classes, tuple(img_shape)
        self.noise_mode, self.w_avg_samples, self.w_dim = opts.noise_mode, opts.w_avg_samples, opts.w_dim
        self.embed = nn.Embedding(num_classes, opts.embed_dim) if num_classes else None
        self.mapping_net = self._mlp(z_dim + (opts.embed_dim if num_classes else 0), opts)
        levels = self._levels(img_shape[1])
        widths = [max(opts.ngf, opts.ngf * 2 ** (levels - i)) for i in range(levels + 1)]
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.layers = nn.ModuleList(
            StyleLayer(widths[max(i - 1, 0)], widths[i], opts.w_dim, 4 * 2**i, conv=i > 0) for i in range(levels + 1))
        self.to_rgb = nn.Conv2d(widths[-1], img_shape[0], 1)

    @staticmethod
    def _levels(resolution: int) -> int:
        levels = math.log2(resolution / 4)
        if resolution < 8 or levels != int(levels):
            raise ValueError(f"stylegan-lite needs a power-of-two resolution >= 8, got {resolution}")
        return int(levels)

    @staticmethod
    def _mlp(in_dim: int, opts: StyleGANLiteOptions) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i in range(opts.mapping_layers):
            layers += [nn.Linear(in_dim if i == 0 else opts.w_dim, opts.w_dim), nn.LeakyReLU(0.2)]
        return nn.Sequential(*layers)

    def mapping(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Z (+ label) -> W, [B, w_dim]."""
        h = pixel_norm(z)
        if self.embed is not None:
            if y is None:
                raise ValueError("this generator is conditional: pass class labels y")
            h = torch.cat([h, pixel_norm(self.embed(y))], dim=1)
        return self.mapping_net(h)

    def _noise(self, layer: StyleLayer, index: int, key: torch.Tensor):
        if self.noise_mode == "off":
            return None
        if self.noise_mode == "const":
            return layer.const_noise
        return keyed_noise(key, index, layer.size)

    def synthesis(self, w: torch.Tensor, noise_key: torch.Tensor | None = None) -> torch.Tensor:
        """W [B, w_dim] -> images in [-1, 1]; noise is seeded by ``noise_key`` rows (default w)."""
        key = w if noise_key is None else noise_key
        x = self.const.expand(w.shape[0], -1, -1, -1)
        for index, layer in enumerate(self.layers):
            x = layer(x, w, self._noise(layer, index, key))
        return torch.tanh(self.to_rgb(x))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesis(self.mapping(z, y), noise_key=z)

    @torch.no_grad()
    def mean_w(self, y: torch.Tensor | None = None) -> torch.Tensor:
        """w_avg per sample: the mean of mapping(z, label) over a fixed seeded set of z."""
        z = torch.randn(self.w_avg_samples, self.z_dim, generator=torch.Generator().manual_seed(0))
        z = z.to(self.const.device)
        if y is None:
            return self.mapping(z).mean(0, keepdim=True)
        means = {int(c): self.mapping(z, torch.full_like(z[:, 0], int(c), dtype=torch.long)).mean(0)
                 for c in y.unique()}
        return torch.stack([means[int(c)] for c in y])

    def generate_truncated(self, z: torch.Tensor, y: torch.Tensor | None = None, psi: float = 0.7) -> torch.Tensor:
        """Images with the W truncation trick: w' = w_avg + psi * (w - w_avg)."""
        w = self.mapping(z, y)
        w_avg = self.mean_w(y)
        return self.synthesis(w_avg + psi * (w - w_avg), noise_key=z)


@MODELS.register("stylegan-lite")
class StyleGANLite:
    """DCGAN-scale style-based G (mapping, AdaIN, constant input, noise) + DCGAN D."""

    Options = StyleGANLiteOptions

    @staticmethod
    def build(spec, img_shape, num_classes):
        opts = StyleGANLiteOptions(**spec.options)
        d_opts = DCGANOptions(ndf=opts.ndf, spectral_norm_d=opts.spectral_norm_d, d_norm="none")
        return StyleGenerator(spec.z_dim, img_shape, num_classes, opts), DCGANDiscriminator(img_shape, num_classes, d_opts)
