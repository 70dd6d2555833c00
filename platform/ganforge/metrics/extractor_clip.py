"""``--extractor clip``: CLIP ViT-B/32 image embeddings through torch-fidelity, where the weights exist.

CLIP features rank generative models more like humans do than Inception's on some data
(Kynkäänniemi et al. 2023); torch-fidelity provides the network, ganforge only finds the weights
on disk (``GANFORGE_CLIP_WEIGHTS``) and refuses to download them. No logits: no IS.
"""
from __future__ import annotations

from ganforge.metrics import EXTRACTORS
from ganforge.metrics.cache import file_digest
from ganforge.metrics.extractor import Extractor, ExtractorContext, load_extractor
from ganforge.metrics.names import extractor_tag
from ganforge.metrics.weights import CLIP_VIT_B32, require_weights

TF_NAME = "clip-vit-b-32"
NAME = "clip"


@EXTRACTORS.register("clip")
def clip(argument: str | None, context: ExtractorContext) -> Extractor:
    """CLIP ViT-B/32 embeddings (torch-fidelity's clip-vit-b-32) from a local weights file."""
    if argument:
        raise ValueError(f"only CLIP ViT-B/32 is wired up; got clip:{argument}")
    path = require_weights(CLIP_VIT_B32)
    return load_extractor(NAME, TF_NAME, pool_key="clip", logits_key=None, weights_path=path,
                          identity=f"clip@{file_digest(path)}", device=context.device,
                          no_logits_hint="CLIP gives embeddings, not class logits: use inception or domain:<data set>")


def clip_tag(argument: str | None, context: ExtractorContext) -> str:
    """CLIP is not the Inception network: its keys carry ``clip`` (``clip.fid``)."""
    return extractor_tag(NAME)


clip.metric_tag = clip_tag
