"""One Tune trial: a real ``ganforge train`` run (the same TorchTrainer and worker loop) driven
from a Tune function trainable, with its own MLflow child run under the search's parent run.

Train-in-Tune (Ray 2.60): the trial function builds a TorchTrainer whose RunConfig carries
Train's ``TuneReportCallback``; Train's reports become Tune results. The Train run name is
derived from the trial id, so a restored search (``--resume``) re-uses it and Ray Train
continues that trial from its latest checkpoint instead of starting over.
"""
from __future__ import annotations

import math
import os
from typing import Any

from ganforge import tracking
from ganforge.config import ExperimentSpec, spec_from_dict
from ganforge.tune.space import apply_params

TRIAL_TAG = "ganforge.trial_id"
SEARCH_TAG = "ganforge.search"


def trial_spec(base: dict, params: dict[str, Any], resources: dict[str, Any]) -> ExperimentSpec:
    """The spec one trial trains: base + sampled params + per-trial resources, no registration."""
    document = apply_params(base, params)
    for key, value in resources.items():
        document.setdefault("scaling", {})[key] = value
    document.setdefault("tracking", {})["registered_model"] = None  # only the best gets registered
    return spec_from_dict(document, source="trial spec")


def _report_callback(metric: str, mode: str):
    """Train's TuneReportCallback, filling in the worst value when a report lacks the metric
    (a diverged trial reports status/error only; Tune rejects results without the metric)."""
    from ray.tune.integration.ray_train import TuneReportCallback

    worst = math.inf if mode == "min" else -math.inf

    class FillingReportCallback(TuneReportCallback):
        def after_report(self, run_context, metrics, checkpoint):
            first = dict(metrics[0])
            first.setdefault(metric, worst)
            super().after_report(run_context, [first, *metrics[1:]], checkpoint)

    return FillingReportCallback()


def _child_run(spec: ExperimentSpec, uri: str, parent_run_id: str, trial_id: str, params: dict) -> str:
    """The trial's MLflow child run: re-used when a resumed search restarts the trial."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    parent = client.get_run(parent_run_id)
    existing = client.search_runs([parent.info.experiment_id],
                                  f"tags.{TRIAL_TAG} = '{trial_id}' and tags.mlflow.parentRunId = '{parent_run_id}'")
    if existing:
        client.update_run(existing[0].info.run_id, status="RUNNING")
        return existing[0].info.run_id
    run_id = tracking.create_run(spec, uri, tags={"mlflow.parentRunId": parent_run_id, TRIAL_TAG: trial_id,
                                                 SEARCH_TAG: parent.data.tags.get(SEARCH_TAG, "")})
    client.log_batch(run_id, params=[__import__("mlflow").entities.Param(f"search.{k}", str(v)[:6000])
                                     for k, v in params.items()])
    return run_id


def build_trial_trainer(spec: ExperimentSpec, loop_config: dict, run_name: str, metric: str, mode: str):
    """build_trainer's TorchTrainer with the Tune report callback added to its RunConfig."""
    import dataclasses

    from ray.train.torch import TorchTrainer

    from ganforge.train.driver import build_trainer

    trainer = build_trainer(spec, loop_config, run_name)
    # build_trainer has no callbacks argument: rebuild with the same pieces plus the callback.
    run_config = dataclasses.replace(trainer.run_config, callbacks=[_report_callback(metric, mode)])
    return TorchTrainer(trainer.train_loop_per_worker, train_loop_config=loop_config,
                        scaling_config=trainer.scaling_config, torch_config=trainer.backend_config,
                        run_config=run_config)


def run_trial(config: dict, *, base: dict, parent_run_id: str, tracking_uri: str, search_name: str,
              metric: str, mode: str, resources: dict) -> None:
    """Tune function trainable: train one sampled spec through Ray Train; metrics flow to Tune."""
    from mlflow.tracking import MlflowClient
    from ray import tune

    trial_id = tune.get_context().get_trial_id()
    spec = trial_spec(base, config, resources)
    run_id = _child_run(spec, tracking_uri, parent_run_id, trial_id, config)
    run_name = f"{search_name}-{trial_id}"
    client = MlflowClient(tracking_uri)
    from ganforge.train.driver import storage_root

    client.set_tag(run_id, tracking.CHECKPOINT_TAG, os.path.join(storage_root(spec), run_name))
    loop_config = {"spec": spec.to_dict(), "run_id": run_id, "tracking_uri": tracking_uri, "resume_from": None}
    try:
        result = build_trial_trainer(spec, loop_config, run_name, metric, mode).fit()
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    diverged = (result.metrics or {}).get("status") == "diverged"
    client.set_terminated(run_id, status="FAILED" if diverged else "FINISHED")
