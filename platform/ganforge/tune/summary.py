"""Everything written after a search, all logged to the parent MLflow run: results table
(CSV + Markdown), metric curves, the best spec (YAML), the registered best generator and the
truncation sweep of the best finished trial."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ganforge.config import ExperimentSpec
from ganforge.train.storage import local_path
from ganforge.tune import results as res
from ganforge.tune import truncation
from ganforge.tune.search import SearchOutcome


@dataclass
class SearchSummary:
    """Paths and names a finished search produced (the CLI prints them)."""

    table_markdown: str
    rows: list
    output_dir: Path
    best_spec: Path | None = None
    best_run_id: str | None = None
    registered: str | None = None
    truncation_rows: list = field(default_factory=list)


def _log_text(client, run_id: str, directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    client.log_artifact(run_id, str(path), "search")
    return path


def summarize(outcome: SearchOutcome, spec: ExperimentSpec, output_dir: str | Path | None = None,
              truncation_n: int | None = None) -> SearchSummary:
    """Build and log the search's outputs; ``output_dir`` defaults to the Tune experiment directory."""
    from mlflow.tracking import MlflowClient

    search = outcome.search
    client = MlflowClient(outcome.tracking_uri)
    # Outputs are also logged to MLflow; on remote storage the local copy goes to ./<search name>.
    experiment = outcome.experiment_path
    out = Path(output_dir or local_path(experiment) or Path.cwd() / experiment.rstrip("/").rsplit("/", 1)[-1])
    out.mkdir(parents=True, exist_ok=True)
    rows = res.collect_rows(outcome.results, search.metric, search.mode,
                            res.child_runs(outcome.tracking_uri, outcome.parent_run_id))
    header, cells = res.table(rows, search.metric)
    text = res.markdown(header, cells)
    summary = SearchSummary(text, rows, out)
    parent = outcome.parent_run_id
    _log_text(client, parent, out, "results.md", text)
    _log_text(client, parent, out, "results.csv", res.csv_text(header, cells))
    client.log_artifact(parent, str(res.plot_curves(rows, search.metric, out / "metric_curves.png",
                                                    spec.train.checkpoint_every)), "search")
    finished = [r for r in rows if r.status == "finished" and math.isfinite(r.last) and r.run_id]
    if not finished:
        client.set_tag(parent, "ganforge.error", "no trial finished with a finite metric")
        client.set_terminated(parent, status="FAILED")
        return summary
    best = finished[0]  # rows are ranked by each trial's best value (results.collect_rows)
    summary.best_run_id = best.run_id
    summary.best_spec = res.write_best_spec(spec, best, search.resources, out / f"{spec.name}-best.yaml")
    client.log_artifact(parent, str(summary.best_spec), "search")
    client.log_metric(parent, f"best_{search.metric}", best.best)
    client.set_tag(parent, "ganforge.best_trial", best.trial_id)
    client.set_tag(parent, "ganforge.best_run_id", best.run_id)
    name = spec.tracking.registered_model or f"{spec.name}-best"
    version = res.register_best(outcome.tracking_uri, best, name)
    summary.registered = f"models:/{name}/{version.version}"
    client.set_tag(parent, "ganforge.registered_model", summary.registered)
    if search.truncation:
        summary.truncation_rows = _truncation(client, parent, best, out, search.truncation, truncation_n)
    client.set_terminated(parent, status="FINISHED")
    return summary


def _truncation(client, parent: str, best, out: Path, thresholds, n: int | None) -> list[dict]:
    from ganforge.sampling import load_generator
    from ganforge.tracking import MODEL_NAME

    loaded = load_generator(f"runs:/{best.run_id}/{MODEL_NAME}", tracking_uri=client.tracking_uri)
    rows = truncation.sweep(loaded.generator, loaded.spec, thresholds, n=n)
    header = list(rows[0])
    cells = [[res._fmt(r.get(k, "")) for k in header] for r in rows]
    _log_text(client, parent, out, "truncation.md", res.markdown(header, cells))
    _log_text(client, parent, out, "truncation.csv", res.csv_text(header, cells))
    client.log_artifact(parent, str(truncation.plot(rows, out / "truncation.png")), "search")
    logged = [key for key in (truncation.metric_key(rows[0], "fid"), truncation.metric_key(rows[0], "is_mean")) if key]
    for row in rows:
        if row["truncation"] != "none":
            step = int(round(row["truncation"] * 100))  # MLflow steps are ints: threshold x 100
            for key in logged:  # truncation_fid, truncation_domain-digits.fid, truncation_is_mean, ...
                client.log_metric(parent, f"truncation_{key}", row[key], step=step)
    return rows
