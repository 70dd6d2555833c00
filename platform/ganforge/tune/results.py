"""After a search: the results table (printed, CSV, Markdown), the metric-vs-step plot, the best
spec as a ready-to-run YAML, and the best generator registered in MLflow."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ganforge.config import ExperimentSpec, dump_spec
from ganforge.tune.trial import TRIAL_TAG, trial_spec


@dataclass
class TrialRow:
    """One trial's line in the results table."""

    trial_id: str
    params: dict
    last: float
    best: float
    iterations: int
    status: str
    run_id: str | None
    history: list[tuple[int, float]]


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _sort_key(value: float, mode: str) -> float:
    if not math.isfinite(value):
        return math.inf
    return value if mode == "min" else -value


def collect_rows(results, metric: str, mode: str, child_runs: dict[str, tuple[str, str]]) -> list[TrialRow]:
    """Rows for every trial of a ResultGrid, best first: by the best value each trial reported.

    The best, not the last: a trial that reached a low FID and then drifted up (or diverged) did
    reach it, and ``<metric>_best`` and the search's ``mode`` mean the same. Trials without a
    finite value sort last.
    """
    rows = []
    for result in results:
        metrics = result.metrics or {}
        trial_id = metrics.get("trial_id") or Path(result.path).name
        frame = result.metrics_dataframe
        history = []
        if frame is not None and metric in frame:
            history = [(int(i), _float(v)) for i, v in zip(frame["training_iteration"], frame[metric])]
        values = [v for _, v in history if math.isfinite(v)]
        best = (min(values) if mode == "min" else max(values)) if values else math.nan
        run_id, run_status = child_runs.get(trial_id, (None, "?"))
        status = "error" if result.error else ("stopped early" if run_status == "KILLED" else run_status.lower())
        rows.append(TrialRow(trial_id, dict(result.config or {}), _float(metrics.get(metric)), best,
                             int(metrics.get("training_iteration", 0) or 0), status, run_id, history))
    return sorted(rows, key=lambda r: _sort_key(r.best, mode))


def child_runs(tracking_uri: str, parent_run_id: str) -> dict[str, tuple[str, str]]:
    """trial id -> (MLflow child run id, status) for a search's parent run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    return {r.data.tags.get(TRIAL_TAG, ""): (r.info.run_id, r.info.status) for r in runs}


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(rows: list[TrialRow], metric: str) -> tuple[list[str], list[list[str]]]:
    """Header and string cells: trial, each searched parameter, metric (last, best), iterations, status."""
    keys = sorted({k for r in rows for k in r.params})
    header = ["trial", *keys, metric, f"{metric}_best", "iterations", "status", "mlflow_run"]
    cells = [[r.trial_id, *(_fmt(r.params.get(k, "")) for k in keys), _fmt(r.last), _fmt(r.best),
              str(r.iterations), r.status, r.run_id or ""] for r in rows]
    return header, cells


def markdown(header: list[str], cells: list[list[str]]) -> str:
    """A GitHub-style Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines) + "\n"


def csv_text(header: list[str], cells: list[list[str]]) -> str:
    """The same table as CSV."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(cells)
    return buffer.getvalue()


def plot_curves(rows: list[TrialRow], metric: str, path: Path, steps_per_iteration: int) -> Path:
    """Metric vs training step, one line per trial (early-stopped trials end early)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        points = [(i * steps_per_iteration, v) for i, v in row.history if math.isfinite(v)]
        if points:
            ax.plot(*zip(*points), marker="o", label=f"{row.trial_id} ({row.status})")
    ax.set_xlabel("training step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} per trial")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_best_spec(spec: ExperimentSpec, row: TrialRow, resources: dict, path: Path) -> Path:
    """The best trial's full spec (no search section), loadable by ``ganforge train``."""
    best = trial_spec(spec.user_document(), row.params, resources)
    best = best.model_copy(update={"name": f"{spec.name}-best"})
    best.tracking.registered_model = spec.tracking.registered_model
    dump_spec(best, path)
    return path


def register_best(tracking_uri: str, row: TrialRow, name: str):
    """Register the best finished trial's logged generator (runs:/<child>/generator) as ``name``."""
    import mlflow

    from ganforge.tracking import MODEL_NAME

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.register_model(f"runs:/{row.run_id}/{MODEL_NAME}", name)
