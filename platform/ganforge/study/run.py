"""Running a study: one Tune search (``tune/search.py: run_search``) whose trials are the
variants x seeds, each a real run of the training loop and an MLflow child run of the study's
parent run. The search space is a grid over the variant name and ``train.seed`` (scheduler
none); :func:`run_study_trial` turns a trial's variant name into its dotted spec keys (over the
variant's own spec when it has one: an adaptation variant runs the adapt task) and hands them to
``tune/trial.py: run_trial``, so trials train, checkpoint, resume and log exactly as ``ganforge
tune`` trials do. The plan (variants x seeds, at, metrics) is logged to the parent run before any
trial starts; ``--resume`` refuses a changed plan and never retrains a finished variant x seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.config import ExperimentSpec, spec_from_dict
from ganforge.study.spec import Study, StudyError, plan_document, scheduled_variants, variant_document

VARIANT_KEY = "study.variant"  # the Tune config key naming the variant (not a spec key)
VARIANT_TAG = "ganforge.study.variant"
SEED_TAG = "ganforge.study.seed"
STUDY_TAG = "ganforge.study"
PLAN_ARTIFACT = "study/study.json"


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


def variant_trial(config: dict, variants: dict[str, dict], documents: dict[str, dict], base: dict) -> tuple[dict, dict]:
    """(dotted params, the spec document) one trial trains: the variant's keys and the seed, over
    the variant's own spec (e.g. an adaptation's) or the study's base."""
    name = config[VARIANT_KEY]
    return {**variants[name], "train.seed": config["train.seed"]}, documents.get(name, base)


def _finished_run(client, parent, variant: str, seed: int):
    """The FINISHED child run of this variant and seed from an earlier session, or None: what a
    resumed study keeps (also when Tune restarts the trial under another id)."""
    found = client.search_runs([parent.info.experiment_id],
                               f"tags.mlflow.parentRunId = '{parent.info.run_id}' and tags.`{VARIANT_TAG}` = '{variant}' "
                               f"and tags.`{SEED_TAG}` = '{seed}' and attributes.status = 'FINISHED'")
    return found[0] if found else None


def run_study_trial(config: dict, *, variants: dict[str, dict], base: dict, documents: dict[str, dict] | None = None,
                    **trial_kwargs) -> None:
    """Tune function trainable: the variant's keys + the seed, trained by ``run_trial``; the child
    run is tagged with its variant and seed (also after a failure) so the report can find it.
    A variant x seed that already has a finished child run reports it and trains nothing."""
    from mlflow.tracking import MlflowClient
    from ray import tune

    from ganforge.tune.trial import TRIAL_TAG, report_finished, run_trial

    name, seed = config[VARIANT_KEY], config["train.seed"]
    client = MlflowClient(trial_kwargs["tracking_uri"])
    parent = client.get_run(trial_kwargs["parent_run_id"])
    done = _finished_run(client, parent, name, seed)
    if done is not None:
        report_finished(done)
        return
    params, document = variant_trial(config, variants, documents or {}, base)
    try:
        run_trial(params, base=document, **trial_kwargs)
    finally:
        trial_id = tune.get_context().get_trial_id()
        for run in client.search_runs([parent.info.experiment_id],
                                      f"tags.{TRIAL_TAG} = '{trial_id}' and tags.mlflow.parentRunId = '{parent.info.run_id}'"):
            client.set_tag(run.info.run_id, VARIANT_TAG, name)
            client.set_tag(run.info.run_id, SEED_TAG, str(seed))


def _trial_fn(study: Study, trial=None):
    """``trial`` (default :func:`run_study_trial`) with the study's variants (the schedule on
    top of their keys) and their own documents bound (Tune's with_parameters adds the rest)."""
    import functools

    documents = {name: variant_document(study, name) for name in study.documents}
    bound = functools.partial(trial or run_study_trial, variants=scheduled_variants(study), documents=documents)
    bound.__name__ = "study_trial"  # Tune names the trainable after it
    return bound


def log_plan(tracking_uri: str, parent_run_id: str, study: Study) -> None:
    """The study's plan on its parent run, before any trial trains: ``--report`` of an interrupted
    study shows the variants not yet run, and ``--resume`` checks it resumes the same study."""
    import json

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    client.set_tag(parent_run_id, STUDY_TAG, study.name)
    client.log_dict(parent_run_id, study.to_dict(), PLAN_ARTIFACT)
    client.log_text(parent_run_id, json.dumps(study.base, indent=1), "study/base.json")


def read_json_artifact(client, run_id: str, path: str):
    """A JSON artifact of ``run_id`` (logged with ``log_dict`` or ``log_text``), parsed."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return json.loads(Path(client.download_artifacts(run_id, path, folder)).read_text())


def logged_plan(tracking_uri: str, parent_run_id: str) -> dict | None:
    """The plan a parent run holds (``study/study.json``), None when it has none."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    if not any(a.path == PLAN_ARTIFACT for a in client.list_artifacts(parent_run_id, "study")):
        return None
    return read_json_artifact(client, parent_run_id, PLAN_ARTIFACT)


def check_resume(study: Study, spec: ExperimentSpec, tracking_uri: str) -> None:
    """Before Ray starts: ``--resume`` continues this same study (variants, seeds, at, metrics)."""
    import json

    from ganforge.train.storage import read_text
    from ganforge.tune.search import pointer_file

    text = read_text(pointer_file(spec))
    if text is None:
        raise StudyError(f"--resume: no earlier run of study {study.name!r} recorded at {pointer_file(spec)}; "
                         "run it without --resume")
    parent = json.loads(text)["parent_run_id"]
    logged = logged_plan(tracking_uri, parent)
    if logged is None:
        return
    changed = [key for key, value in study.plan().items() if logged.get(key) != json.loads(json.dumps(value))]
    if changed:
        raise StudyError(f"--resume: study {study.name!r} changed since its parent run {parent} began "
                         f"({', '.join(changed)} differ); restore the document or run without --resume for a new study")


def run_study(study: Study, address: str | None = None, resume: bool = False, verbose: bool = False,
              trial=None):
    """Run (or resume) every variant x seed; returns the search's SearchOutcome. The plan is on
    the parent run before the first trial starts. ``trial``: the trial function (default
    :func:`run_study_trial`, same arguments)."""
    from ganforge import tracking
    from ganforge.tune.search import run_search

    spec = search_spec(study)
    uri = tracking.resolve_tracking_uri(spec)
    if resume:
        check_resume(study, spec, uri)
    return run_search(spec, address=address, resume=resume, verbose=verbose, trial_fn=_trial_fn(study, trial),
                      param_space=param_space(study), on_parent=lambda parent: log_plan(uri, parent, study))
