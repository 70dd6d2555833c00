"""Truncation searched without retraining: evaluate one trained generator at several truncation
thresholds (BigGAN's quality-diversity trade-off) and record FID/IS against the threshold."""
from __future__ import annotations

import dataclasses
from pathlib import Path


def sweep(generator, spec, thresholds: list[float | None], n: int | None = None) -> list[dict]:
    """One row per threshold (None = no truncation): the threshold plus fid (and is_mean when the
    extractor has class logits). Same latents seed for every threshold."""
    from ganforge.metrics import Evaluator

    try:
        evaluator = Evaluator.from_spec(spec, metrics=["fid", "is"], n=n)
    except ValueError:  # e.g. an extractor without logits cannot give IS
        evaluator = Evaluator.from_spec(spec, metrics=["fid"], n=n)
    rows = []
    for threshold in thresholds:
        values = dataclasses.replace(evaluator, truncation=threshold)(generator)
        row = {"truncation": "none" if threshold is None else threshold}
        row.update({k: float(v) for k, v in values.items() if k in ("fid", "is_mean", "is_std")})
        rows.append(row)
    return rows


def plot(rows: list[dict], path: Path) -> Path:
    """FID (left axis) and IS (right axis) against the truncation threshold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = [r for r in rows if r["truncation"] != "none"]
    xs = [r["truncation"] for r in finite]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [r["fid"] for r in finite], "o-", color="tab:blue", label="FID")
    ax.set_xlabel("truncation threshold")
    ax.set_ylabel("FID (lower is better)", color="tab:blue")
    untruncated = [r for r in rows if r["truncation"] == "none"]
    if untruncated:
        ax.axhline(untruncated[0]["fid"], color="tab:blue", ls=":", lw=1, label="FID, no truncation")
    if finite and "is_mean" in finite[0]:
        twin = ax.twinx()
        twin.plot(xs, [r["is_mean"] for r in finite], "s--", color="tab:red")
        twin.set_ylabel("IS (higher is better)", color="tab:red")
    ax.set_title("truncation sweep")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
