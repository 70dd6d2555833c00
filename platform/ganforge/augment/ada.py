"""ADA's augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data"), differentiable, applied to real and fake batches in D's passes.

Each transform fires on an image with probability ``p`` (the adaptive strength; ADA's controller in
``ada_control.py`` moves it). The transforms, their order and their magnitudes are the paper's
'bgc' set as stylegan2-ada-pytorch's ``AugmentPipe`` defines them: pixel blitting (x-flip,
90-degree rotations, integer translation up to 1/8 of the size), general geometry (isotropic
scaling with log2 std 0.2, a rotation before and one after anisotropic scaling (log2 std 0.2) so
that P(any rotation) = p, fractional translation with std 1/8 of the size) and colour (brightness
std 0.2, contrast log2 std 0.5, luma flip, hue rotation over the full circle, saturation log2
std 1). Geometric transforms compose into one inverse 3x3 matrix per image, executed by one
``grid_sample`` (bilinear, reflected borders); colour transforms compose into one 4x4 matrix per
image, executed by one batched matmul. Unlike the reference, geometry is sampled at the image's
own resolution (no 2x oversampling with a wavelet filter): cheaper, slightly more aliasing.

Every random draw goes through ``BatchRandom`` for the local batch, so worker ``rank`` of ``world``
augments its rows exactly as one process would augment them in the whole batch (DDP-exact), and
at p = 0 the input is returned unchanged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ganforge.noise import BatchRandom
from ganforge.registry import Registry

# name -> fn(draw, p) -> [B, 3, 3] inverse pixel transform (geometric) or [B, 4, 4] colour matrix.
GEOMETRIC: Registry[Callable] = Registry("ADA geometric transform")
COLOR: Registry[Callable] = Registry("ADA colour transform")
# name -> the transform names it enables (stylegan2-ada-pytorch's augpipe names).
ADA_PIPELINES: Registry[tuple[str, ...]] = Registry("ADA pipeline")

BLIT = ("xflip", "rotate90", "xint")
GEOM = ("scale", "rotate", "aniso", "xfrac")
COLOUR = ("brightness", "contrast", "lumaflip", "hue", "saturation")
for _name, _members in {"blit": BLIT, "geom": GEOM, "color": COLOUR, "bg": BLIT + GEOM,
                        "bgc": BLIT + GEOM + COLOUR}.items():
    ADA_PIPELINES.register(_name)(_members)

# The order the reference composes them in (rotate_post follows aniso, on whenever rotate is).
GEOMETRIC_ORDER = ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "rotate_post", "xfrac")


def _luma_axis() -> torch.Tensor:
    """The luma axis in homogeneous RGB, and its outer product with itself."""
    v = torch.tensor([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)
    return v, torch.outer(v, v)


@dataclass
class Draw:
    """The random source of one augmentation call: the batch's rng, local batch size, image size."""

    rng: BatchRandom
    batch: int
    height: int
    width: int
    channels: int

    def rand(self, *shape: int) -> torch.Tensor:
        """U[0, 1) of shape [batch, *shape] (on the CPU: matrices are built there)."""
        return self.rng.rand(self.batch, *shape).cpu()

    def randn(self, *shape: int) -> torch.Tensor:
        """N(0, 1) of shape [batch, *shape]."""
        return self.rng.randn(self.batch, *shape).cpu()

    def fires(self, p: float) -> torch.Tensor:
        """[batch] bools: True where this transform is applied (probability ``p``)."""
        return self.rand() < p


def _mat(rows: list[list]) -> torch.Tensor:
    """Stack per-image entries (tensors [B] or Python numbers) into [B, n, n] matrices."""
    batch = next(e for row in rows for e in row if isinstance(e, torch.Tensor))
    full = [[e if isinstance(e, torch.Tensor) else torch.full_like(batch, float(e)) for e in row] for row in rows]
    return torch.stack([torch.stack(row, dim=-1) for row in full], dim=-2)


def _scale2d(sx, sy) -> torch.Tensor:
    return _mat([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _translate2d(tx, ty) -> torch.Tensor:
    return _mat([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    return _mat([[theta.cos(), -theta.sin(), 0], [theta.sin(), theta.cos(), 0], [0, 0, 1]])


def _where(mask: torch.Tensor, value: torch.Tensor, identity: float) -> torch.Tensor:
    """``value`` where the transform fires, else the value that leaves the image unchanged."""
    while mask.dim() < value.dim():
        mask = mask.unsqueeze(-1)
    return torch.where(mask, value, torch.full_like(value, identity))


# Geometric transforms return G_inv factors: output pixel -> input pixel, centred coordinates.
@GEOMETRIC.register("xflip")
def xflip(d: Draw, p: float) -> torch.Tensor:
    """Mirror left-right."""
    i = _where(d.fires(p), torch.floor(d.rand() * 2), 0.0)
    return _scale2d(1 - 2 * i, 1)


@GEOMETRIC.register("rotate90")
def rotate90(d: Draw, p: float) -> torch.Tensor:
    """Rotate by 0, 90, 180 or 270 degrees."""
    i = _where(d.fires(p), torch.floor(d.rand() * 4), 0.0)
    return _rotate2d(math.pi / 2 * i)


@GEOMETRIC.register("xint")
def xint(d: Draw, p: float, max_shift: float = 0.125) -> torch.Tensor:
    """Shift by a whole number of pixels, up to ``max_shift`` of the size."""
    t = _where(d.fires(p), (d.rand(2) * 2 - 1) * max_shift, 0.0)
    return _translate2d(-torch.round(t[:, 0] * d.width), -torch.round(t[:, 1] * d.height))


@GEOMETRIC.register("scale")
def scale(d: Draw, p: float, std: float = 0.2) -> torch.Tensor:
    """Isotropic scaling by 2^N(0, std)."""
    s = _where(d.fires(p), torch.exp2(d.randn() * std), 1.0)
    return _scale2d(1 / s, 1 / s)


def _rotation(d: Draw, p: float) -> torch.Tensor:
    """A uniform rotation with the probability that makes P(pre or post rotation) = p."""
    p_rot = 1 - math.sqrt(min(max(1 - p, 0.0), 1.0))
    theta = _where(d.fires(p_rot), (d.rand() * 2 - 1) * math.pi, 0.0)
    return _rotate2d(theta)


@GEOMETRIC.register("rotate")
def rotate(d: Draw, p: float) -> torch.Tensor:
    """The rotation before anisotropic scaling (``rotate_post`` is the one after)."""
    return _rotation(d, p)


@GEOMETRIC.register("aniso")
def aniso(d: Draw, p: float, std: float = 0.2) -> torch.Tensor:
    """Anisotropic scaling: x by s, y by 1/s, s = 2^N(0, std)."""
    s = _where(d.fires(p), torch.exp2(d.randn() * std), 1.0)
    return _scale2d(1 / s, s)


@GEOMETRIC.register("rotate_post")
def rotate_post(d: Draw, p: float) -> torch.Tensor:
    """The rotation after anisotropic scaling (on whenever ``rotate`` is)."""
    return _rotation(d, p)


@GEOMETRIC.register("xfrac")
def xfrac(d: Draw, p: float, std: float = 0.125) -> torch.Tensor:
    """Sub-pixel shift with std ``std`` of the size."""
    t = _where(d.fires(p), d.randn(2) * std, 0.0)
    return _translate2d(-t[:, 0] * d.width, -t[:, 1] * d.height)


# Colour transforms return 4x4 matrices on homogeneous RGB: C @ colour_in -> colour_out.
@COLOR.register("brightness")
def brightness(d: Draw, p: float, std: float = 0.2) -> torch.Tensor:
    """Add N(0, std) to every channel."""
    b = _where(d.fires(p), d.randn() * std, 0.0)
    return _mat([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]])


@COLOR.register("contrast")
def contrast(d: Draw, p: float, std: float = 0.5) -> torch.Tensor:
    """Multiply by 2^N(0, std)."""
    c = _where(d.fires(p), torch.exp2(d.randn() * std), 1.0)
    return _mat([[c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]])


@COLOR.register("lumaflip")
def lumaflip(d: Draw, p: float) -> torch.Tensor:
    """Invert luma (a Householder reflection along the luma axis), keeping chroma."""
    i = _where(d.fires(p), torch.floor(d.rand() * 2), 0.0).view(-1, 1, 1)
    return torch.eye(4) - 2 * _luma_axis()[1] * i


@COLOR.register("hue")
def hue(d: Draw, p: float) -> torch.Tensor:
    """Rotate colours around the luma axis by a uniform angle (RGB only)."""
    theta = _where(d.fires(p), (d.rand() * 2 - 1) * math.pi, 0.0)
    if d.channels == 1:
        return torch.eye(4).expand(d.batch, 4, 4)
    x = y = z = 1 / math.sqrt(3)  # the luma axis
    s, c = theta.sin(), theta.cos()
    cc = 1 - c
    return _mat([[x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, 0],
                 [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, 0],
                 [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, 0], [0, 0, 0, 1]])


@COLOR.register("saturation")
def saturation(d: Draw, p: float, std: float = 1.0) -> torch.Tensor:
    """Scale the chroma (distance from the luma axis) by 2^N(0, std) (RGB only)."""
    s = _where(d.fires(p), torch.exp2(d.randn() * std), 1.0).view(-1, 1, 1)
    if d.channels == 1:
        return torch.eye(4).expand(d.batch, 4, 4)
    axis = _luma_axis()[1]
    return axis + (torch.eye(4) - axis) * s


def members(pipeline: str) -> tuple[list[str], list[str]]:
    """(geometric, colour) transform names of ``pipeline``, in the reference's order."""
    enabled = set(ADA_PIPELINES.get(pipeline))
    if "rotate" in enabled:
        enabled.add("rotate_post")
    return [n for n in GEOMETRIC_ORDER if n in enabled], [n for n in COLOUR if n in enabled]


def _geometry(x: torch.Tensor, g_inv: torch.Tensor) -> torch.Tensor:
    """Resample ``x`` at G_inv @ (output pixel), in centred pixel coordinates; reflected borders."""
    _, _, h, w = x.shape
    # affine_grid works in [-1, 1] units (align_corners=False: the image's outer edges).
    to_norm = _scale2d(torch.full((1,), 2.0 / w), torch.full((1,), 2.0 / h))
    to_pixels = _scale2d(torch.full((1,), w / 2.0), torch.full((1,), h / 2.0))
    theta = (to_norm @ g_inv @ to_pixels)[:, :2, :].to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _colour(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Apply [B, 4, 4] colour matrices to RGB, or their channel mean to greyscale, as the reference does."""
    b, channels, h, w = x.shape
    c = c.to(device=x.device, dtype=x.dtype)
    flat = x.reshape(b, channels, h * w)
    if channels == 3:
        flat = c[:, :3, :3] @ flat + c[:, :3, 3:]
    elif channels == 1:
        grey = c[:, :3, :].mean(dim=1, keepdim=True)
        flat = flat * grey[:, :, :3].sum(dim=2, keepdim=True) + grey[:, :, 3:]
    else:
        raise ValueError(f"ADA's colour transforms need 1 or 3 channels, got {channels}; "
                         "use augment.ada.pipeline: bg (geometry only) for other images")
    return flat.reshape(b, channels, h, w)


def ada_augment(x: torch.Tensor, p: float, rng: BatchRandom, pipeline: str = "bgc") -> torch.Tensor:
    """``x`` [B, C, H, W] in [-1, 1] with each transform of ``pipeline`` applied with probability ``p``.

    Differentiable in ``x``; ``x`` itself when ``p`` is 0.
    """
    if p <= 0:
        return x
    b, channels, h, w = x.shape
    draw = Draw(rng, b, h, w, channels)
    geometric, colour = members(pipeline)
    if geometric:
        g_inv = torch.eye(3).expand(b, 3, 3)
        for name in geometric:
            g_inv = g_inv @ GEOMETRIC.get(name)(draw, p)
        x = _geometry(x, g_inv)
    if colour:
        c = torch.eye(4).expand(b, 4, 4)
        for name in colour:
            c = COLOR.get(name)(draw, p) @ c
        x = _colour(x, c)
    return x
