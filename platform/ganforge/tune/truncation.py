"""Truncation searched without retraining: evaluate one trained generator at several truncation
thresholds (BigGAN's quality-diversity trade-off) and record FID/IS against the threshold.

Rows keep the evaluation's own keys, which name the extractor (``fid`` for the standard
Inception, ``domain-digits.fid`` for the digits classifier)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ganforge.metrics.names import base_key

SWEPT = ("fid", "is_mean", "is_std")  # plain keys kept in the rows


def sweep(generator, spec, thresholds: list[float | None], n: int | None = None) -> list[dict]:
    """One row per threshold (None = no truncation): the threshold plus FID (and IS when the
    extractor has class logits), under the extractor's key names. Same latents for every threshold."""
    from ganforge.metrics import Evaluator

    try:
        evaluator = Evaluator.from_spec(spec, metrics=["fid", "is"], n=n)
    except ValueError:  # e.g. an extractor without logits cannot give IS
        evaluator = Evaluator.from_spec(spec, metrics=["fid"], n=n)
    rows = []
    for threshold in thresholds:
        values = dataclasses.replace(evaluator, truncation=threshold)(generator)
        row = {"truncation": "none" if threshold is None else threshold}
        row.update({k: float(v) for k, v in values.items() if base_key(k) in SWEPT})
        rows.append(row)
    return rows


def metric_key(row: dict, plain: str) -> str | None:
    """The key of a row that holds metric ``plain`` (``fid`` -> ``domain-digits.fid``), if any."""
    return next((key for key in row if key != "truncation" and base_key(key) == plain), None)


def plot(rows: list[dict], path: Path) -> Path:
    """FID (left axis) and IS (right axis) against the truncation threshold, labelled with their keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fid, inception_score = metric_key(rows[0], "fid"), metric_key(rows[0], "is_mean")
    finite = [r for r in rows if r["truncation"] != "none"]
    xs = [r["truncation"] for r in finite]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [r[fid] for r in finite], "o-", color="tab:blue", label=fid)
    ax.set_xlabel("truncation threshold")
    ax.set_ylabel(f"{fid} (lower is better)", color="tab:blue")
    untruncated = [r for r in rows if r["truncation"] == "none"]
    if untruncated:
        ax.axhline(untruncated[0][fid], color="tab:blue", ls=":", lw=1, label=f"{fid}, no truncation")
    if finite and inception_score:
        twin = ax.twinx()
        twin.plot(xs, [r[inception_score] for r in finite], "s--", color="tab:red")
        twin.set_ylabel(f"{inception_score} (higher is better)", color="tab:red")
    ax.set_title("truncation sweep")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
