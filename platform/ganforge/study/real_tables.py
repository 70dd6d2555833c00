"""Tables of the real data alone that a study document asks for (``real_data_tables: [NAME]``),
beside the variants' table: registered here by name, computed once by the study's report on the
base spec's data set and extractor, and logged to the parent run (``study/real_tables/NAME.json``)
so ``ganforge study --report`` rebuilds them from MLflow alone.

``is_sample_size``: the Inception score of real images at sample sizes n x splits (the
spectral-normalisation report's table: how much IS moves with n and the split count, i.e. how far
apart two models' scores must be to mean anything). Computed with the project's IS
(``metrics/inception_score.py``, torch-fidelity's ``isc_features_to_metric``) from the logits of
the study's extractor (``inception`` where torch-fidelity's weights are on disk, a domain
classifier otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from ganforge.registry import Registry

IS_SIZES = (256, 512, 1024)
IS_SPLITS = (5, 10)


@dataclass(frozen=True)
class RealTable:
    """A registered table: ``compute(spec, seed) -> {"title", "header", "rows", "values"}``."""

    name: str
    compute: Callable[[Any, int], dict[str, Any]]


REAL_TABLES: Registry[RealTable] = Registry("real-data table")


def is_sample_size_table(logits: torch.Tensor, sizes=IS_SIZES, splits=IS_SPLITS, seed: int = 0) -> dict[str, Any]:
    """IS (mean ± std over the splits) of the first n of ``logits`` (already in a random order:
    each n holds the smaller ones) for every n in ``sizes`` and split count in ``splits``.
    An n beyond the images there are is left out (the title says how many there were)."""
    from ganforge.metrics.base import MetricInputs
    from ganforge.metrics.inception_score import inception_score

    values = []
    for n in (n for n in sizes if n <= len(logits)):
        for k in splits:
            inputs = MetricInputs(fake={"logits": logits[:n]}, real=None, seed=seed, options={"is_splits": k})
            score = inception_score(inputs)
            values.append({"n": n, "splits": k, "mean": score["is_mean"], "std": score["is_std"]})
    header = ["n"] + [f"IS, {k} splits" for k in splits]
    cells = {(v["n"], v["splits"]): f"{v['mean']:.3f} ± {v['std']:.3f}" for v in values}
    rows = [[str(n)] + [cells[(n, k)] for k in splits] for n in sorted({v["n"] for v in values})]
    return {"header": header, "rows": rows, "values": values, "images": len(logits)}


def real_logits(spec, n: int, seed: int = 0) -> tuple[torch.Tensor, str]:
    """The eval extractor's logits of ``n`` real images of ``spec.data`` in a seeded random order
    (all of them when there are fewer), and the extractor's name."""
    from ganforge.metrics.extractor import ExtractorContext, resolve_extractor
    from ganforge.metrics.realdata import build_real_dataset, image_batches

    dataset = build_real_dataset(spec.data)
    extractor = resolve_extractor(spec.eval.extractor, ExtractorContext(data_spec=spec.data, dataset=dataset))
    if not extractor.has_logits:
        raise ValueError(f"real_data_tables is_sample_size: extractor {extractor.name!r} has no class logits; "
                         f"{extractor.no_logits_hint or 'use one that has (inception with its weights, domain:<data set>)'}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    batches = [extractor.features(images)["logits"] for images, _ in image_batches(dataset, order, spec.eval.batch_size)]
    return torch.cat(batches), extractor.name


def _is_sample_size(spec, seed: int) -> dict[str, Any]:
    logits, name = real_logits(spec, max(IS_SIZES), seed)
    table = is_sample_size_table(logits, seed=seed)
    table["title"] = (f"Inception score of real {spec.data.name} images by sample size n and split count "
                      f"({name} logits; {table['images']} images drawn, seed {seed})")
    return table


REAL_TABLES.register("is_sample_size")(RealTable("is_sample_size", _is_sample_size))
