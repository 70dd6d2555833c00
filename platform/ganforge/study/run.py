"""Running a study: one Tune search (``tune/search.py: run_search``) whose trials are the
variants x seeds, each a real run of the training loop and an MLflow child run of the study's
parent run. The search space is a grid over the variant name and ``train.seed`` (scheduler
none); :func:`run_study_trial` turns a trial's variant name into its dotted spec keys and hands
them to ``tune/trial.py: run_trial``, so trials train, checkpoint, resume and log exactly as
``ganforge tune`` trials do.
"""
from __future__ import annotations

from typing import Any

from ganforge.config import ExperimentSpec, spec_from_dict
from ganforge.study.spec import Study, plan_document

VARIANT_KEY = "study.variant"  # the Tune config key naming the variant (not a spec key)
VARIANT_TAG = "ganforge.study.variant"
SEED_TAG = "ganforge.study.seed"
STUDY_TAG = "ganforge.study"


def search_spec(study: Study) -> ExperimentSpec:
    """The base spec on the study's schedule, with a ``search:`` section Tune's machinery validates."""
    document = plan_document(study.base, study)
    document["search"] = {
        "space": {"train.seed": f"grid({', '.join(str(s) for s in study.seeds)})"},
        "metric": study.metrics[0], "mode": study.mode, "scheduler": "none", "num_samples": 1,
        "max_concurrent": study.max_concurrent, "resources": dict(study.resources)}
    return spec_from_dict(document, source=f"study {study.name}")


def param_space(study: Study) -> dict[str, Any]:
    """Tune's grid: every variant name x every seed."""
    from ray import tune

    return {VARIANT_KEY: tune.grid_search(list(study.variants)), "train.seed": tune.grid_search(list(study.seeds))}


def run_study_trial(config: dict, *, variants: dict[str, dict], **trial_kwargs) -> None:
    """Tune function trainable: the variant's keys + the seed, trained by ``run_trial``; the child
    run is tagged with its variant and seed (also after a failure) so the report can find it."""
    from mlflow.tracking import MlflowClient
    from ray import tune

    from ganforge.tune.trial import TRIAL_TAG, run_trial

    name = config[VARIANT_KEY]
    params = {**variants[name], "train.seed": config["train.seed"]}
    try:
        run_trial(params, **trial_kwargs)
    finally:
        client = MlflowClient(trial_kwargs["tracking_uri"])
        trial_id = tune.get_context().get_trial_id()
        parent = client.get_run(trial_kwargs["parent_run_id"])
        for run in client.search_runs([parent.info.experiment_id],
                                      f"tags.{TRIAL_TAG} = '{trial_id}' and tags.mlflow.parentRunId = '{parent.info.run_id}'"):
            client.set_tag(run.info.run_id, VARIANT_TAG, name)
            client.set_tag(run.info.run_id, SEED_TAG, str(config["train.seed"]))


def _trial_fn(study: Study):
    """``run_study_trial`` with the study's variants bound (Tune's with_parameters adds the rest)."""
    import functools

    trial = functools.partial(run_study_trial, variants=study.variants)
    trial.__name__ = "study_trial"  # Tune names the trainable after it
    return trial


def run_study(study: Study, address: str | None = None, resume: bool = False, verbose: bool = False):
    """Run (or resume) every variant x seed; returns the search's SearchOutcome."""
    import json

    from mlflow.tracking import MlflowClient

    from ganforge.tune.search import run_search

    spec = search_spec(study)
    outcome = run_search(spec, address=address, resume=resume, verbose=verbose,
                         trial_fn=_trial_fn(study), param_space=param_space(study))
    client = MlflowClient(outcome.tracking_uri)
    client.set_tag(outcome.parent_run_id, STUDY_TAG, study.name)
    client.log_dict(outcome.parent_run_id, study.to_dict(), "study/study.json")
    client.log_text(outcome.parent_run_id, json.dumps(study.base, indent=1), "study/base.json")
    return outcome
