"""FastGAN's self-supervised reconstruction loss on D (Liu et al. 2021, Sec. 3.2, Eq. 2):
L_recons = E_{f ~ D_encode(x), x ~ I_real}[ ||G(f) - T(x)|| ], where G(f) are D's decoders and
T(x) the targets: the whole image resized to the decoder resolution, and the same quadrant of
the image as the cropped 16x16 features, resized likewise. The distance is ``l1`` (default; no
weights needed) or ``perceptual`` (LPIPS-VGG, the paper's choice; needs the LPIPS weights files,
see metrics/lpips.py). Real images only; batch means; the quadrant of each sample is drawn from
the step's BatchRandom (DDP-exact). Returns nothing when D's decoders are switched off.
Set it in the job spec: ``loss: {regularizers: [{name: reconstruction, weight: 1}]}``.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from ganforge.losses import REGULARIZERS
from ganforge.losses.regularizers import DContext, Regularizer


def reconstruction_targets(image: torch.Tensor, quadrant: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(whole image at ``size``, each sample's quadrant at ``size``) of images [B, C, H, W]."""
    from ganforge.models.fastgan import crop_quadrants

    def resize(x: torch.Tensor) -> torch.Tensor:
        return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")

    return resize(image), resize(crop_quadrants(image, quadrant))


class ReconstructionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    distance: Literal["l1", "perceptual"] = Field("l1", description="l1, or perceptual (LPIPS-VGG, needs local weights)")


@REGULARIZERS.register("reconstruction")
class Reconstruction(Regularizer):
    """weight * (d(dec_whole(f8), T_whole(x)) + d(dec_part(crop(f16)), T_part(x))) on real x."""

    Options = ReconstructionOptions

    def __init__(self, weight: float = 1.0, distance: str = "l1"):
        super().__init__(weight)
        self.distance = distance

    def _distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.distance == "l1":
            return (x.float() - y.float()).abs().mean()
        from ganforge.metrics.lpips import load_lpips

        return load_lpips(device=x.device)(x, y).mean()

    def d_term(self, ctx: DContext) -> torch.Tensor | None:
        decode = getattr(ctx.D, "decode", None)
        if decode is None:
            raise ValueError("the reconstruction regularizer needs a discriminator with decoders (model.name: fastgan)")
        if ctx.D.decoders is None:  # decoders switched off: the ablation baseline
            return None
        out = ctx.real_out
        quadrant = ctx.rng.randint(0, 4, out.image.shape[0])
        whole, part = decode(out, quadrant)
        target_whole, target_part = reconstruction_targets(out.image.detach(), quadrant, whole.shape[-1])
        return self.weight * (self._distance(whole, target_whole) + self._distance(part, target_part))
