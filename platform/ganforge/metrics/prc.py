"""Improved precision and recall (Kynkäänniemi et al. 2019), through torch-fidelity.

Precision: the fraction of generated samples inside the real manifold (the union of balls
reaching each real sample's k-th nearest real neighbour) — fidelity. Recall: the fraction of real
samples inside the generated manifold — diversity / coverage. Both higher is better.
"""
from __future__ import annotations

from torch_fidelity.metric_prc import prc_features_to_metric

from ganforge.metrics.base import MetricInputs, metric


@metric("prc", options={"prc_neighborhood": 3}, keys=("precision", "recall", "f_score"),
        higher_is_better=("precision", "recall", "f_score"))
def precision_recall(inputs: MetricInputs) -> dict[str, float]:
    """k-NN manifold precision (fidelity) and recall (coverage), higher is better."""
    # torch-fidelity's convention: input 1 is generated, input 2 is real.
    out = prc_features_to_metric(inputs.fake["pool"], inputs.real.features, prc_neighborhood=inputs.option("prc_neighborhood"),
                                 prc_batch_size=10000, save_cpu_ram=True, verbose=False)
    return {"precision": out["precision"], "recall": out["recall"], "f_score": out["f_score"]}
