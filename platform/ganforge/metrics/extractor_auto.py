"""``--extractor auto`` (the default): pick the extractor whose numbers mean something here.

A labelled data set with no Inception weights configured gets its domain classifier
(``domain:<data set>``): cheap on CPU and offline. Otherwise the standard Inception (torch-fidelity's
weights if on disk, else the fid-helper port). The choice is printed and logged with the metrics.
"""
from __future__ import annotations

from ganforge.metrics import EXTRACTORS
from ganforge.metrics.extractor import Extractor, ExtractorContext
from ganforge.metrics.extractor_inception import original_inception_available


@EXTRACTORS.register("auto")
def auto(argument: str | None, context: ExtractorContext) -> Extractor:
    """domain:<data set> for labelled data without Inception weights configured, else inception."""
    if argument:
        raise ValueError(f"'auto' takes no argument, got auto:{argument}")
    labelled = getattr(context.dataset, "num_classes", 0) > 0
    if labelled and context.data_name and not original_inception_available(context.inception_weights):
        return EXTRACTORS.get("domain")(context.data_name, context)
    return EXTRACTORS.get("inception")(None, context)
