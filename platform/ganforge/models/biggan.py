"""BigGAN (Brock, Donahue & Simonyan 2019, "Large Scale GAN Training for High Fidelity Natural
Image Synthesis"), at 32, 64 and 128 px.

- shared class embedding, hierarchical latents: z is split into one chunk for the 4x4 input and
  one per up-block; each block's conditional BatchNorm reads [z chunk, shared embedding(y)];
- a self-attention block (SAGAN, Zhang et al. 2019) at ``attn_res`` in G and D;
- spectral norm in G and D, orthogonal initialisation, projection D;
- orthogonal regularisation of G (off-diagonal variant, beta = 1e-4): the ``orthogonal``
  regularizer in losses/orthogonal.py, added to the spec by the family (``regularizers``);
- EMA of G: ``train.ema`` (paper: 0.9999 from step 20k); the truncation trick is
  ``sampling.sample_images(..., truncation=t)``, which resamples |z| > t over the whole z
  (all chunks), as in the paper.

The ResNet blocks are SNGAN's (models/sngan.py); the layouts follow BigGAN-PyTorch's ``arch``
tables: 128 px ch=96, G (16,16,8,4,2,1), D (1,2,4,8,16,16); 32 px G/D width 4*ch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.layers import maybe_sn
from ganforge.models.sngan import G_LAYOUT, ResNetGenerator, init_resnet, layout, sngan_discriminator


class SelfAttention(nn.Module):
    """SAGAN self-attention: x + gamma * o(softmax(theta^T phi) g), phi/g max-pooled by 2."""

    def __init__(self, channels: int, sn: bool = True):
        super().__init__()
        self.theta = maybe_sn(nn.Conv2d(channels, channels // 8 or 1, 1, bias=False), sn)
        self.phi = maybe_sn(nn.Conv2d(channels, channels // 8 or 1, 1, bias=False), sn)
        self.g = maybe_sn(nn.Conv2d(channels, channels // 2 or 1, 1, bias=False), sn)
        self.o = maybe_sn(nn.Conv2d(channels // 2 or 1, channels, 1, bias=False), sn)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2)  # [B, C/8, HW]
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # [B, C/8, HW/4]
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # [B, C/2, HW/4]
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # [B, HW, HW/4]
        o = self.o((g @ attn.transpose(1, 2)).view(b, -1, h, w))
        return x + self.gamma * o


class BigGANOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    g_ch: int = Field(64, ge=1, description="generator base width (paper: 96 at 128 px, 64 at 32 px)")
    d_ch: int = Field(64, ge=1, description="discriminator base width (paper: 96 at 128 px)")
    shared_dim: int = Field(128, ge=1, description="size of the shared class embedding")
    attn_res: int = Field(64, ge=0, description="resolution of the self-attention block in G and D (0: none)")
    hierarchical_z: bool = Field(True, description="split z across the blocks (off: the whole z to every block)")


class BigGANGenerator(nn.Module):
    """z [B, z_dim] (+ labels) -> images in [-1, 1], z split across the blocks."""

    def __init__(self, z_dim: int, img_shape: tuple[int, int, int], num_classes: int, opts: BigGANOptions):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = z_dim, num_classes, tuple(img_shape)
        channels = [m * opts.g_ch for m in layout(G_LAYOUT, img_shape[1], "biggan")]
        blocks = len(channels) - 1
        self.hierarchical = opts.hierarchical_z
        self.chunks = self._chunks(z_dim, blocks, opts.hierarchical_z)
        self.shared = nn.Embedding(num_classes, opts.shared_dim) if num_classes else None
        cond_dim = self.chunks[1] + (opts.shared_dim if num_classes else 0)
        self.net = ResNetGenerator(self.chunks[0], channels, cond_dim, img_shape[0], sn=True,
                                   attn_res=opts.attn_res, attention=SelfAttention)
        self.apply(lambda m: init_resnet(m, "orthogonal"))

    @staticmethod
    def _chunks(z_dim: int, blocks: int, hierarchical: bool) -> list[int]:
        if not hierarchical:
            return [z_dim] * (blocks + 1)
        if z_dim % (blocks + 1):
            raise ValueError(f"biggan splits z into {blocks + 1} equal chunks at this resolution: "
                             f"z_dim={z_dim} is not divisible (use e.g. {(blocks + 1) * 20})")
        return [z_dim // (blocks + 1)] * (blocks + 1)

    def conditions(self, z: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, list]:
        """(z for the 4x4 input, [per-block conditioning vectors])."""
        parts = torch.split(z, self.chunks[0], dim=1) if self.hierarchical else [z] * len(self.chunks)
        if self.shared is None:
            return parts[0], parts[1:]
        if y is None:
            raise ValueError("this generator is conditional: pass class labels y")
        shared = self.shared(y)
        return parts[0], [torch.cat([chunk, shared], dim=1) for chunk in parts[1:]]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z0, conds = self.conditions(z, y)
        return self.net(z0, conds)


@MODELS.register("biggan")
class BigGAN:
    """BigGAN (Brock et al. 2019), 32/64/128 px: hierarchical z, shared embedding, attention."""

    Options = BigGANOptions
    regularizers = ({"name": "orthogonal", "weight": 1e-4},)  # added to specs that do not list it

    @staticmethod
    def build(spec, img_shape, num_classes):
        opts = BigGANOptions(**spec.options)
        D = sngan_discriminator(img_shape, num_classes, opts.d_ch, family="biggan",
                                attn_res=opts.attn_res, attention=SelfAttention)
        D.apply(lambda m: init_resnet(m, "orthogonal"))
        return BigGANGenerator(spec.z_dim, img_shape, num_classes, opts), D
