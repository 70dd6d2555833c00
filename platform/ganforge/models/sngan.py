"""SNGAN: ResNet generator and discriminator with spectral normalisation in D and the hinge loss
(Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for Generative Adversarial
Networks", appendix B: the CIFAR-10 ResNet at 32 px and the ImageNet layouts at 64/128 px).
The conditional variant uses class-conditional BatchNorm in G and the projection discriminator
(Miyato & Koyama 2018, "cGANs with Projection Discriminator").

The ResNet blocks here are shared with BigGAN (models/biggan.py): ``GBlock`` takes a per-block
conditioning vector (one-hot label for SNGAN, [z chunk, shared embedding] for BigGAN) that
drives its conditional BatchNorm; ``ResNetDiscriminator`` takes an optional attention block.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import ConfigDict, Field
from torch import nn

from ganforge.models import MODELS
from ganforge.models.layers import ProjectionHead, maybe_sn
from ganforge.models.minibatch import MinibatchOptions, minibatch_layer

# Channel multipliers of ``ch`` per resolution (Miyato et al. 2018, tables 4-6): generator
# stages (4x4 input, then one per up-block) and discriminator blocks with their downsampling.
G_LAYOUT = {32: (4, 4, 4, 4), 64: (16, 8, 4, 2, 1), 128: (16, 16, 8, 4, 2, 1)}
D_LAYOUT = {32: ((2, True), (2, True), (2, False), (2, False)),
            64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
            128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False))}


def layout(table: dict, resolution: int, family: str):
    """The preset of ``table`` for ``resolution`` with a readable error for others."""
    if resolution not in table:
        raise ValueError(f"{family} supports resolutions {sorted(table)}, got {resolution}")
    return table[resolution]


def init_resnet(module: nn.Module, kind: str = "xavier") -> None:
    """Xavier-uniform (SNGAN) or orthogonal (BigGAN) init of convs/linears/embeddings."""
    if isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
        target = module.parametrizations.weight.original if hasattr(module, "parametrizations") else module.weight
        (nn.init.orthogonal_ if kind == "orthogonal" else nn.init.xavier_uniform_)(target)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


class CondBatchNorm(nn.Module):
    """BatchNorm whose scale/shift come from a conditioning vector (1 + gain(c), bias(c)).

    With ``cond_dim`` 0 it is a plain affine BatchNorm. The normalisation itself is an
    ``nn.BatchNorm2d``, so it becomes cross-replica BN under DDP.
    """

    def __init__(self, channels: int, cond_dim: int, sn: bool = False):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=cond_dim == 0)
        self.gain = maybe_sn(nn.Linear(cond_dim, channels, bias=False), sn) if cond_dim else None
        self.bias = maybe_sn(nn.Linear(cond_dim, channels, bias=False), sn) if cond_dim else None

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = self.bn(x)
        if self.gain is None:
            return h
        return h * (1 + self.gain(cond))[:, :, None, None] + self.bias(cond)[:, :, None, None]


class GBlock(nn.Module):
    """Pre-activation up-block: BN-ReLU-up-conv3-BN-ReLU-conv3 + upsampled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int, sn: bool):
        super().__init__()
        self.bn1, self.bn2 = CondBatchNorm(c_in, cond_dim, sn), CondBatchNorm(c_out, cond_dim, sn)
        # No conv biases: BatchNorm follows every one of them and cancels a bias, which then has a
        # zero gradient (that Adam would turn into lr-sized steps of rounding noise).
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), sn)
        self.conv2 = maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), sn)
        self.shortcut = maybe_sn(nn.Conv2d(c_in, c_out, 1, bias=False), sn)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    """Down-block; ``first`` is the optimized block on the image (no leading ReLU)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool, sn: bool = True):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = maybe_sn(nn.Conv2d(c_in, c_out, 3, 1, 1), sn)
        self.conv2 = maybe_sn(nn.Conv2d(c_out, c_out, 3, 1, 1), sn)
        self.learned_sc = c_in != c_out or down
        self.shortcut = maybe_sn(nn.Conv2d(c_in, c_out, 1), sn) if self.learned_sc else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def _skip(self, x: torch.Tensor) -> torch.Tensor:
        if not self.learned_sc:
            return x
        return self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        return self._pool(h) + self._skip(x)


class ResNetGenerator(nn.Module):
    """z0 -> 4x4 by a linear layer, up-blocks with per-block conditioning, BN-ReLU-conv3-tanh.

    ``attention`` (optional) is a callable ``channels -> module`` inserted after the block whose
    output resolution is ``attn_res``.
    """

    def __init__(self, z_in: int, channels: list[int], cond_dim: int, out_channels: int, sn: bool,
                 attn_res: int = 0, attention=None):
        super().__init__()
        self.c0 = channels[0]
        self.linear = maybe_sn(nn.Linear(z_in, 16 * channels[0]), sn)
        self.blocks = nn.ModuleList(GBlock(a, b, cond_dim, sn) for a, b in zip(channels, channels[1:]))
        self.attn = nn.ModuleDict({str(i): attention(c) for i, c in enumerate(channels[1:])
                                   if attention is not None and 8 * 2**i == attn_res})
        self.out = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(),
                                 maybe_sn(nn.Conv2d(channels[-1], out_channels, 3, 1, 1), sn), nn.Tanh())

    def forward(self, z0: torch.Tensor, conds: list) -> torch.Tensor:
        h = self.linear(z0).view(z0.shape[0], self.c0, 4, 4)
        for i, (block, cond) in enumerate(zip(self.blocks, conds)):
            h = block(h, cond)
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return self.out(h)


class ResNetDiscriminator(nn.Module):
    """Down-blocks, ReLU, global sum pooling, linear + projection head -> logits [B]."""

    def __init__(self, in_channels: int, blocks: list[tuple[int, bool]], num_classes: int,
                 attn_res: int = 0, attention=None, resolution: int = 32, minibatch: MinibatchOptions | None = None):
        super().__init__()
        minibatch = minibatch or MinibatchOptions()  # off
        layers, c_in, res = [], in_channels, resolution
        for i, (c_out, down) in enumerate(blocks):
            layers.append(DBlock(c_in, c_out, down, first=i == 0))
            c_in, res = c_out, res // 2 if down else res
            if attention is not None and res == attn_res:
                layers.append(attention(c_out))
                attention = None  # once, after the first block at that resolution
        self.blocks = nn.Sequential(*layers)
        self.mbd = minibatch_layer(c_in, minibatch)
        self.head = ProjectionHead(c_in + minibatch.minibatch_kernels, num_classes, sn=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features [B, C] (before the head)."""
        return F.relu(self.blocks(x)).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.mbd(self.features(x)), y)


class SNGANOptions(MinibatchOptions):
    model_config = ConfigDict(extra="forbid")
    g_ch: int = Field(64, ge=1, description="generator base width (x4 at 32 px: the paper's 256)")
    d_ch: int = Field(64, ge=1, description="discriminator base width (x2 at 32 px: the paper's 128)")
    spectral_norm_g: bool = Field(False, description="spectral norm in G too (the paper: D only)")


class SNGANGenerator(nn.Module):
    """z [B, z_dim] (+ labels through conditional BN) -> images in [-1, 1]."""

    def __init__(self, z_dim: int, img_shape: tuple[int, int, int], num_classes: int, opts: SNGANOptions):
        super().__init__()
        self.z_dim, self.num_classes, self.img_shape = z_dim, num_classes, tuple(img_shape)
        channels = [m * opts.g_ch for m in layout(G_LAYOUT, img_shape[1], "sngan")]
        self.net = ResNetGenerator(z_dim, channels, num_classes, img_shape[0], opts.spectral_norm_g)
        self.apply(init_resnet)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        cond = None
        if self.num_classes:
            if y is None:
                raise ValueError("this generator is conditional: pass class labels y")
            cond = F.one_hot(y, self.num_classes).to(z.dtype)
        return self.net(z, [cond] * len(self.net.blocks))


def sngan_discriminator(img_shape, num_classes: int, d_ch: int, family: str = "sngan", **kw) -> ResNetDiscriminator:
    """The SNGAN/BigGAN ResNet discriminator for ``img_shape``."""
    blocks = [(m * d_ch, down) for m, down in layout(D_LAYOUT, img_shape[1], family)]
    D = ResNetDiscriminator(img_shape[0], blocks, num_classes, resolution=img_shape[1], **kw)
    return D


@MODELS.register("sngan")
class SNGAN:
    """SNGAN ResNet (Miyato et al. 2018), 32/64/128 px, conditional BN + projection D."""

    Options = SNGANOptions

    @staticmethod
    def build(spec, img_shape, num_classes):
        opts = SNGANOptions(**spec.options)
        D = sngan_discriminator(img_shape, num_classes, opts.d_ch,
                                minibatch=opts)
        D.apply(init_resnet)
        return SNGANGenerator(spec.z_dim, img_shape, num_classes, opts), D
