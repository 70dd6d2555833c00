"""A study's report, from MLflow alone: the table (variants x evaluation steps, mean +- std over
seeds) as Markdown, CSV and HTML, a PNG per metric against steps, and a mosaic of every
variant's samples at each ``at`` step; written to a folder and logged under ``report/`` of the parent run.

Everything is read back from the parent run (``study/study.json``) and its child runs (tagged
with their variant and seed; metric histories; ``samples/*.png``), so ``ganforge study --report
PARENT_RUN_ID`` rebuilds what the study printed.
"""
from __future__ import annotations

import csv
import html
import math
import re
import statistics
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from ganforge.study.run import SEED_TAG, VARIANT_TAG

_STEP = re.compile(r"samples_step(\d+)\.png$")
History = dict[str, dict[int, float]]  # metric -> step -> value (one run)


@dataclass
class StudyResults:
    """What the report is made of: the plan and each variant's runs' histories and samples."""

    name: str
    variants: list[str]
    at: list[int]
    metrics: list[str]
    histories: dict[str, list[History]]  # variant -> one History per seed's run
    samples: dict[str, dict[int, str]] = field(default_factory=dict)  # variant -> step -> local PNG of its samples
    seeds: list[int] = field(default_factory=list)  # the planned seeds (empty: unknown)
    real_tables: dict[str, dict] = field(default_factory=dict)  # name -> real_tables.py's table
    groups: dict[str, str] = field(default_factory=dict)  # variant -> its table's title (empty: one table)


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean and sample standard deviation (0 for one seed) of the finite values, and their count."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan, 0
    return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else 0.0, len(finite)


def cells(results: StudyResults) -> dict[tuple[str, str, int], tuple[float, float, int]]:
    """(variant, metric, step) -> (mean, std, seeds) at every ``at`` step; a run that did not
    report the step (failed, stopped) is left out of that cell."""
    out = {}
    for variant in results.variants:
        for metric in results.metrics:
            for step in results.at:
                values = [h.get(metric, {}).get(step, math.nan) for h in results.histories.get(variant, [])]
                out[(variant, metric, step)] = mean_std(values)
    return out


def _text(cell: tuple[float, float, int]) -> str:
    mean, std, n = cell
    return "n/a" if n == 0 else f"{mean:.4g} ± {std:.2g}"


def table(results: StudyResults) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per variant, one column per metric x step."""
    header = ["variant"] + [f"{m} @ {s}" for m in results.metrics for s in results.at]
    values = cells(results)
    rows = [[v] + [_text(values[(v, m, s)]) for m in results.metrics for s in results.at] for v in results.variants]
    return header, rows


def missing(results: StudyResults) -> list[str]:
    """One line per variant with fewer seeds at the last ``at`` step than planned (an interrupted
    or failed study): its cells are n/a or means over fewer seeds."""
    last, planned = max(results.at), len(results.seeds)
    lines = []
    for variant in results.variants:
        runs = results.histories.get(variant, [])
        reached = sum(1 for h in runs if any(last in h.get(m, {}) for m in results.metrics))
        if planned and reached < planned:
            started = f"{len(runs)} run(s) started" if runs else "not run yet"
            lines.append(f"{variant}: {reached} of {planned} seed(s) reached step {last} ({started})")
    return lines


def _missing_text(results: StudyResults) -> str:
    lines = missing(results)
    if not lines:
        return ""
    return ("\nUnfinished: this study has not run every variant x seed to its last step "
            "(`ganforge study STUDY --resume` continues it):\n\n" + "".join(f"- {line}\n" for line in lines))


def tables_text(results: StudyResults) -> str:
    """The Markdown table, or one per group (``table_per``: e.g. a table per target data set)."""
    if not results.groups:
        return markdown(*table(results))
    parts = []
    for title in dict.fromkeys(results.groups.get(v, "") for v in results.variants):
        members = [v for v in results.variants if results.groups.get(v, "") == title]
        parts.append(f"### {title}\n\n" + markdown(*table(replace(results, variants=members))))
    return "\n".join(parts)


def _real_tables_text(results: StudyResults) -> str:
    return "".join(f"\n### {t['title']}\n\n" + markdown(t["header"], t["rows"]) for t in results.real_tables.values())


def markdown(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def html_table(header: list[str], rows: list[list[str]], title: str) -> str:
    """A standalone HTML page holding the table."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><table border='1'><tr>{head}</tr>{body}</table></body></html>\n")


def _csv(path: Path, results: StudyResults) -> None:
    """Numbers, not text: one line per variant x metric x step."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "metric", "step", "mean", "std", "seeds"])
        for (variant, metric, step), (mean, std, n) in cells(results).items():
            writer.writerow([variant, metric, step, mean, std, n])


def metric_figure(results: StudyResults, metric: str):
    """``metric`` against every evaluated step, one line per variant (mean, band: +- std over
    seeds); the legend sits under the axes, where long variant names hide no line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4 + 0.2 * len(results.variants)))
    for variant in results.variants:
        runs = results.histories.get(variant, [])
        steps = sorted({s for h in runs for s in h.get(metric, {})})
        stats = [mean_std([h.get(metric, {}).get(s, math.nan) for h in runs]) for s in steps]
        means = [m for m, _, _ in stats]
        stds = [d for _, d, _ in stats]
        ax.plot(steps, means, marker="o", label=variant)
        ax.fill_between(steps, [m - d for m, d in zip(means, stds)], [m + d for m, d in zip(means, stds)], alpha=0.2)
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{results.name}: {metric}")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1, frameon=False)
    fig.tight_layout()
    return fig


def plot_metric(results: StudyResults, metric: str, path: Path) -> None:
    """:func:`metric_figure` as a PNG."""
    import matplotlib.pyplot as plt

    fig = metric_figure(results, metric)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def cell_title(name: str, step: int, width: int = 28) -> str:
    """A mosaic cell's title, wrapped at ``width`` characters (a grid cell's width) so that long
    variant names (a grid's ``a / key=value, key=value``) do not run into the next cell."""
    import textwrap

    return "\n".join(textwrap.wrap(f"{name} @ {step}", width, break_on_hyphens=False))


def mosaic_figure(results: StudyResults):
    """A row per variant, a column per ``at`` step: the first seed's sample grid at that step
    (the last one it logged when it has none there); None when no variant logged samples."""
    names = [v for v in results.variants if results.samples.get(v)]
    if not names:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    lines = max(cell_title(name, max(results.at)).count("\n") + 1 for name in names)
    fig, axes = plt.subplots(len(names), len(results.at),
                             figsize=(2.5 * len(results.at), (2.5 + 0.17 * lines) * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        grids = results.samples[name]
        for ax, step in zip(row, results.at):
            ax.axis("off")
            shown = step if step in grids else max(grids)
            ax.imshow(mpimg.imread(grids[shown]))
            ax.set_title(cell_title(name, shown), fontsize="small")
    fig.tight_layout()
    return fig


def plot_mosaic(results: StudyResults, path: Path) -> bool:
    """:func:`mosaic_figure` as a PNG; False when no variant logged samples."""
    import matplotlib.pyplot as plt

    fig = mosaic_figure(results)
    if fig is None:
        return False
    fig.savefig(path, dpi=72)  # a mosaic of grids: small enough to commit beside a study's doc
    plt.close(fig)
    return True


def write_report(results: StudyResults, output: Path) -> str:
    """Write table.md/.csv/.html, one PNG per metric and samples.png to ``output``; returns the Markdown."""
    output.mkdir(parents=True, exist_ok=True)
    header, rows = table(results)
    text = tables_text(results) + _missing_text(results) + _real_tables_text(results)
    (output / "table.md").write_text(text)
    (output / "table.html").write_text(html_table(header, rows, f"study {results.name}"))
    _csv(output / "table.csv", results)
    for metric in results.metrics:
        plot_metric(results, metric, output / f"{metric}.png")
    plot_mosaic(results, output / "samples.png")
    for name, real in results.real_tables.items():
        (output / f"{name}.md").write_text(markdown(real["header"], real["rows"]))
    return text


# --- from MLflow ------------------------------------------------------------------------------


def _history(client, run_id: str, metrics: list[str]) -> History:
    return {m: {int(p.step): float(p.value) for p in client.get_metric_history(run_id, m)} for m in metrics}


def _samples(client, run_id: str, at: list[int], folder: Path) -> dict[int, str]:
    """The run's samples/samples_stepNNNNNNN.png at the ``at`` steps (and its last), downloaded to ``folder``."""
    steps = {}
    for artifact in client.list_artifacts(run_id, "samples"):
        match = _STEP.search(artifact.path)
        if match:
            steps[int(match.group(1))] = artifact.path
    wanted = {s for s in at if s in steps} | ({max(steps)} if steps else set())
    return {s: client.download_artifacts(run_id, steps[s], str(folder)) for s in sorted(wanted)}


def _real_tables(client, parent_run_id: str, plan: dict) -> dict[str, dict]:
    """The plan's real-data tables from the parent run; one it lacks is computed (on the study's
    base spec) and logged, so the next ``--report`` reads it from MLflow."""
    from ganforge.study.real_tables import REAL_TABLES
    from ganforge.study.run import read_json_artifact

    logged = {a.path for a in client.list_artifacts(parent_run_id, "study/real_tables")}
    tables = {}
    for name in plan.get("real_tables", []):
        path = f"study/real_tables/{name}.json"
        if path in logged:
            tables[name] = read_json_artifact(client, parent_run_id, path)
            continue
        base = read_json_artifact(client, parent_run_id, "study/base.json")
        tables[name] = REAL_TABLES.get(name).compute(_base_spec(base), 0)
        client.log_dict(parent_run_id, tables[name], path)
    return tables


def _base_spec(base: dict):
    from ganforge.config import spec_from_dict

    return spec_from_dict({**base, "search": None}, source="study base")


def collect(tracking_uri: str, parent_run_id: str, folder: Path | None = None) -> StudyResults:
    """Read a study's plan and every child run's histories (and the first seed's samples) from
    MLflow; works on an unfinished study (the plan is logged before any trial trains)."""
    from mlflow.tracking import MlflowClient

    from ganforge.study.run import logged_plan

    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    plan = logged_plan(tracking_uri, parent_run_id)
    if plan is None:
        raise ValueError(f"run {parent_run_id} holds no study plan (study/study.json): is it a ganforge study's parent run?")
    folder = Path(folder or tempfile.mkdtemp())
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    runs = sorted((r for r in runs if VARIANT_TAG in r.data.tags), key=lambda r: int(r.data.tags.get(SEED_TAG, 0)))
    histories: dict[str, list[History]] = {}
    samples: dict[str, dict[int, str]] = {}
    for run in runs:
        variant = run.data.tags[VARIANT_TAG]
        histories.setdefault(variant, []).append(_history(client, run.info.run_id, plan["metrics"]))
        if variant not in samples:
            target = folder / f"samples-{len(samples)}"
            target.mkdir(parents=True, exist_ok=True)
            found = _samples(client, run.info.run_id, plan["at"], target)
            if found:
                samples[variant] = found
    return StudyResults(plan["name"], list(plan["variants"]), list(plan["at"]), list(plan["metrics"]), histories,
                        samples, list(plan.get("seeds", [])), _real_tables(client, parent_run_id, plan),
                        dict(plan.get("groups", {})))


def report(tracking_uri: str, parent_run_id: str, output: Path) -> str:
    """Rebuild the report from MLflow into ``output`` and log it under ``report/`` of the parent run."""
    from mlflow.tracking import MlflowClient

    results = collect(tracking_uri, parent_run_id, Path(tempfile.mkdtemp()))
    text = write_report(results, Path(output))
    MlflowClient(tracking_uri).log_artifacts(parent_run_id, str(output), "report")
    return text
