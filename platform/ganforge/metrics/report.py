"""Reporting an evaluation: a printable table and MLflow logging that names the extractor.

The values already carry their network in their keys (``fid`` for the standard Inception,
``domain-digits.fid`` for the digits classifier; :mod:`ganforge.metrics.names`). The table shows
those keys; ``ganforge evaluate`` logs them as ``eval.<key>`` (``eval.fid``,
``eval.domain-digits.fid``), apart from the periodic evaluations the training loop logs under the
bare keys (another n, another step), with the extractor's identity (weights digest) and n as tags
``ganforge.eval.<extractor>.extractor`` / ``.n``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganforge.metrics.extractor import Extractor
from ganforge.metrics.names import extractor_tag

EVAL_PREFIX = "eval."


def metric_prefix(extractor: Extractor) -> str:
    """What ``ganforge evaluate`` puts before each key it logs (the keys name the extractor)."""
    return EVAL_PREFIX


def tag_prefix(extractor: Extractor) -> str:
    """``eval.<extractor name with ':' as '-'>.``: its run tags (identity, n), one set per extractor."""
    return f"{EVAL_PREFIX}{extractor_tag(extractor.name)}."


def format_table(values: dict[str, float], extractor: Extractor | None, n: int) -> str:
    """Aligned ``metric  value`` lines under a header naming the extractor (if any) and n."""
    width = max([len(key) for key in values] + [6])
    header = f"extractor: {extractor.name}  ({extractor.identity}), n={n}" if extractor else f"n={n}"
    lines = [header, f"{'metric':<{width}}  value"]
    lines += [f"{key:<{width}}  {value:.6g}" for key, value in values.items()]
    return "\n".join(lines)


@dataclass
class EvaluationTarget:
    """Where an evaluation is logged: the source's run, or a new run linked to the source."""

    source: str
    run_id: str | None
    experiment: str
    name: str
    step: int = 0


def _new_run(client, target: EvaluationTarget) -> str:
    experiment = client.get_experiment_by_name(target.experiment)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(target.experiment)
    run = client.create_run(experiment_id, run_name=f"evaluate-{target.name}",
                            tags={"ganforge.evaluation_of": target.source})
    return run.info.run_id


def log_evaluation(tracking_uri: str, target: EvaluationTarget, values: dict[str, float], extractor: Extractor | None,
                   n: int, extra_tags: dict[str, Any] | None = None) -> str:
    """Log ``values`` as ``eval.<key>`` to the target's run or a new one; returns the run id.
    ``extractor``: the feature network the values came from (its identity becomes a tag), or
    None for metrics computed on the images themselves (PSNR, SSIM of a paired model)."""
    from mlflow.tracking import MlflowClient

    from ganforge.tracking import log_metrics

    client = MlflowClient(tracking_uri)
    run_id = target.run_id or _new_run(client, target)
    log_metrics(client, run_id, {EVAL_PREFIX + key: value for key, value in values.items()}, target.step)
    prefix = tag_prefix(extractor) if extractor else EVAL_PREFIX
    identity = {f"{prefix}extractor": extractor.identity} if extractor else {}
    tags = {**identity, f"{prefix}n": str(n), **(extra_tags or {})}
    for key, value in tags.items():
        client.set_tag(run_id, f"ganforge.{key}", str(value))
    if extractor and extractor.log_weights and extractor.weights_path is not None:
        client.log_artifact(run_id, str(extractor.weights_path), "extractors")
    if target.run_id is None:
        client.set_terminated(run_id)
    return run_id
