"""The report's adaptation table: one per target data set; rows are source model x method plus
each unadapted source (the baseline row), columns are adaptation iterations (500, 2,000, 5,000 by
default); each cell lists FID and the kernlab-style KMMD figures (metrics/kmmd_kernlab.py).

Plain functions over scores already computed (a run's evaluations read from MLflow, a study's
trials, a benchmark's in-process scores), so the study runner and bench_adapt.py build the same
table; ``log_table`` writes it to an MLflow run as Markdown and CSV beside the sample grids.
"""
from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ganforge.metrics.names import qualify

ITERATIONS = (500, 2000, 5000)
# (metric key without the extractor tag, its column label); the Markdown cell lists them in order.
FIGURES = (("fid", "FID"), ("kmmd_gauss_accept_rate", "KMMD H0 accept"), ("kmmd_gauss_mmd1_mean", "MMD mean"),
           ("kmmd_gauss_mmd1_median", "MMD median"), ("kmmd_gauss_mmd3_mean", "MMD3 mean"),
           ("kmmd_gauss_mmd3_median", "MMD3 median"))


@dataclass
class TableRow:
    """One row: ``scores`` {iteration: {metric key: value}}; a baseline row (the unadapted source)
    has one score, shown in every column."""

    model: str
    method: str
    scores: dict[int, dict[str, float]] = field(default_factory=dict)
    baseline: bool = False

    @property
    def label(self) -> str:
        return f"{self.model} (unadapted source)" if self.baseline else f"{self.model} {self.method}"

    def at(self, iteration: int) -> dict[str, float] | None:
        """The scores shown under ``iteration`` (a baseline's one score everywhere)."""
        if self.baseline:
            return next(iter(self.scores.values()), None)
        return self.scores.get(iteration)


def figure_keys(tag: str | None = None) -> list[str]:
    """The metric keys the table shows, under extractor ``tag`` (None: the standard Inception)."""
    return [qualify(key, tag) for key, _ in FIGURES]


def _cell(scores: dict[str, float] | None, keys: list[str]) -> str:
    if scores is None:
        return ""
    return " / ".join(f"{scores[k]:.4g}" if k in scores else "-" for k in keys)


def markdown_table(target: str, rows: list[TableRow], iterations=ITERATIONS, tag: str | None = None) -> str:
    """The table as Markdown: a title naming the target, a legend of the cell's figures."""
    keys = figure_keys(tag)
    legend = " / ".join(label for _, label in FIGURES)
    lines = [f"### Adaptation to {target}", "", f"Each cell: {legend} ({', '.join(keys)}).", "",
             "| model / method | " + " | ".join(f"{i:,} it." for i in iterations) + " |",
             "|---|" + "---|" * len(iterations)]
    lines += [f"| {row.label} | " + " | ".join(_cell(row.at(i), keys) for i in iterations) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(target: str, rows: list[TableRow], iterations=ITERATIONS, tag: str | None = None) -> str:
    """The table as CSV, one line per (row, iteration) with a column per metric key."""
    keys = figure_keys(tag)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["target", "model", "method", "baseline", "iteration", *keys])
    for row in rows:
        for iteration in iterations:
            scores = row.at(iteration)
            if scores is not None:
                writer.writerow([target, row.model, row.method, row.baseline, iteration,
                                 *(scores.get(k, "") for k in keys)])
    return out.getvalue()


def log_table(client, run_id: str, target: str, rows: list[TableRow], iterations=ITERATIONS,
              tag: str | None = None, grids: dict[str, str] | None = None) -> list[str]:
    """Log the table under ``adapt_tables/`` of ``run_id`` as ``<target>.md`` and ``<target>.csv``,
    with ``grids`` ({name: PNG path}) under ``adapt_tables/<target>_grids/``; returns the paths."""
    client.log_text(run_id, markdown_table(target, rows, iterations, tag), f"adapt_tables/{target}.md")
    client.log_text(run_id, csv_table(target, rows, iterations, tag), f"adapt_tables/{target}.csv")
    logged = [f"adapt_tables/{target}.md", f"adapt_tables/{target}.csv"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in (grids or {}).items():
            copy = Path(tmp) / f"{name}.png"
            copy.write_bytes(Path(path).read_bytes())
            client.log_artifact(run_id, str(copy), f"adapt_tables/{target}_grids")
            logged.append(f"adapt_tables/{target}_grids/{name}.png")
    return logged


def run_scores(client, run_id: str, iterations=ITERATIONS, tag: str | None = None) -> dict[int, dict[str, float]]:
    """An adaptation run's evaluated figures at ``iterations`` from its MLflow metric history."""
    scores: dict[int, dict[str, float]] = {}
    for key in figure_keys(tag):
        for metric in client.get_metric_history(run_id, key):
            if metric.step in iterations:
                scores.setdefault(metric.step, {})[key] = metric.value
    return scores
