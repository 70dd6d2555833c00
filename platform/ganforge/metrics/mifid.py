"""Memorization-informed FID (Kaggle Generative Dog Images competition, Bai et al. 2021).

d = mean over generated images of the minimum cosine distance (1 - |cos|) to any real image in
feature space; d_thr = d if d < eps else 1; MiFID = FID / d_thr. A generator that copies training
images has d near 0 and is penalised (MiFID >> FID); one that does not keeps MiFID = FID.
Lower is better. ``mifid_distance`` (d) is reported too: it shows how close to memorisation a
model is even when below the threshold it does not change MiFID.
"""
from __future__ import annotations

import torch

from ganforge.metrics.base import MetricInputs, metric
from ganforge.metrics.fid import fid_value


def memorization_distance(fake: torch.Tensor, real: torch.Tensor, chunk: int = 2048) -> float:
    """Mean over rows of ``fake`` of the minimum of 1 - |cos| to the rows of ``real`` (Kaggle's d)."""
    fake = _unit_rows(fake[fake.sum(dim=1) != 0].double())  # Kaggle drops all-zero feature rows
    real = _unit_rows(real[real.sum(dim=1) != 0].double())
    minima = [(1 - (block @ real.T).abs()).min(dim=1).values for block in fake.split(chunk)]
    return float(torch.cat(minima).mean())


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


@metric("mifid", options={"mifid_eps": 0.1}, keys=("mifid", "mifid_distance"), lower_is_better=("mifid",))
def mifid(inputs: MetricInputs) -> dict[str, float]:
    """FID divided by the thresholded memorisation distance: mifid, mifid_distance (lower is better)."""
    distance = memorization_distance(inputs.fake["pool"], inputs.real.features)
    thresholded = distance if distance < inputs.option("mifid_eps") else 1.0
    return {"mifid": fid_value(inputs) / (thresholded + 1e-14), "mifid_distance": distance}
