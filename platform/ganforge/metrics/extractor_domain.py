"""``--extractor domain:<data set>``: features and logits of a small classifier trained on that data.

FID/IS with ImageNet's Inception say little about 32 px digits, and Inception's weights are not
always on disk; a classifier trained on the data set itself is offline, cheap on CPU and
sensitive to what matters there (mode collapse onto a few digits shows in its IS and KID). The
network is registered into torch-fidelity's feature-extractor registry as ``ganforge-domain``
(its weights file selects which classifier), so ``torch_fidelity.calculate_metrics`` can use it too.
"""
from __future__ import annotations

import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from ganforge.metrics import EXTRACTORS
from ganforge.metrics.cache import file_digest
from ganforge.metrics.domain_classifier import RESOLUTION, ensure_classifier, load_classifier
from ganforge.metrics.extractor import Extractor, ExtractorContext, load_extractor, register_with_torch_fidelity
from ganforge.metrics.images import from_uint8_rgb
from ganforge.metrics.names import extractor_tag

DOMAIN_TF_NAME = "ganforge-domain"


class DomainFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity extractor around a saved :class:`DomainClassifier` ("pool" and "logits")."""

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        if feature_extractor_weights_path is None:
            raise ValueError("ganforge-domain needs feature_extractor_weights_path (a saved domain classifier)")
        self.net, self.meta = load_classifier(feature_extractor_weights_path)
        self.channels = self.net.config["channels"]

    def forward(self, x: torch.Tensor):
        if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected uint8 [B, 3, H, W], got {x.dtype} {tuple(x.shape)}")
        pool, logits = self.net(from_uint8_rgb(x, self.channels, RESOLUTION))
        named = {"pool": pool, "logits": logits}
        return tuple(named[feature] for feature in self.features_list)

    @staticmethod
    def get_provided_features_list():
        return ("pool", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return "logits" if metric == "isc" else "pool"

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, RESOLUTION, RESOLUTION, dtype=torch.uint8)


def load_domain(path, name: str, device) -> Extractor:
    """The domain extractor for the classifier saved at ``path``."""
    register_with_torch_fidelity(DOMAIN_TF_NAME, DomainFeatureExtractor)
    return load_extractor(f"domain:{name}", DOMAIN_TF_NAME, pool_key="pool", logits_key="logits",
                          weights_path=path, identity=f"domain:{name}@{file_digest(path)}", device=device,
                          log_weights=True)


def data_set_name(argument: str | None, context: ExtractorContext) -> str:
    """The data set whose classifier ``domain[:argument]`` means (default: the evaluated one)."""
    name = argument or context.data_name
    if not name:
        raise ValueError("domain extractor needs a data set: --extractor domain:<data set>, e.g. domain:digits")
    return name


@EXTRACTORS.register("domain")
def domain(argument: str | None, context: ExtractorContext) -> Extractor:
    """A classifier trained once on a labelled data set (``domain:digits``), cached and reused."""
    name = data_set_name(argument, context)
    return load_domain(ensure_classifier(name, context.data_spec), name, context.device)


def domain_tag(argument: str | None, context: ExtractorContext) -> str:
    """``domain-<data set>``: the tag :func:`domain`'s metric keys carry, without training it."""
    return extractor_tag(f"domain:{data_set_name(argument, context)}")


domain.metric_tag = domain_tag
