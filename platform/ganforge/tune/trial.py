"""One Tune trial: a real ``ganforge train`` run (the same worker loop) driven from a Tune function
trainable, with its own MLflow child run under the search's parent run.

A one-worker trial runs the loop in the trial's own process, reporting to Tune directly
(``train/session.py: TuneSession``); its checkpoints are the trial's Tune checkpoints. A trial
with several workers needs a DDP worker group, so it runs Train in Tune.

Train-in-Tune (Ray 2.60): the trial function builds a TorchTrainer and fits it. Train's
``TuneReportCallback`` would forward metrics only (a checkpoint becomes a ``checkpoint_path``
metric), but PBT needs Tune checkpoints to copy a donor's weights. So a Train callback here puts
(metrics, checkpoint path) on a queue, ``fit`` runs in a thread, and the trial function reports
each item with ``ray.tune.report(metrics, checkpoint=...)``. A trial that starts with a Tune
checkpoint (a PBT exploit: the donor's; a resumed search: its own latest) trains a fresh Train
run that continues from it (``resume_from``); the worker loop then takes the weights, moments and
schedule position from the checkpoint and the hyperparameters from the (mutated) trial spec.
"""
from __future__ import annotations

import math
import threading
import uuid
from typing import Any

from ganforge import tracking
from ganforge.config import ExperimentSpec, spec_from_dict
from ganforge.tune.space import apply_params

TRIAL_TAG = "ganforge.trial_id"
SEARCH_TAG = "ganforge.search"
STOPPED_TAG = "ganforge.stopped_early"


def mark_stopped(client, run_id: str) -> None:
    """Tag a trial's child run as stopped early and end it KILLED. Safe to do twice at once: a
    trial the scheduler stopped may still be closing its run while the finished search's driver
    closes the runs left RUNNING, and sqlite then rejects the second insert of the same tag."""
    from mlflow.exceptions import MlflowException

    try:
        client.set_tag(run_id, STOPPED_TAG, "true")
    except MlflowException:
        if client.get_run(run_id).data.tags.get(STOPPED_TAG) != "true":  # not the other writer's tag: a real error
            raise
    client.set_terminated(run_id, status="KILLED")


def trial_spec(base: dict, params: dict[str, Any], resources: dict[str, Any]) -> ExperimentSpec:
    """The spec one trial trains: base + sampled params + per-trial resources, no registration.

    ``base`` is the user's document (``ExperimentSpec.user_document()``), not a filled-in spec:
    validating it with the sampled values applies the rules `ganforge train` applies to
    ``--set`` values (a sampled ``loss.name: wgan`` brings RMSProp and 5 critics where the
    user set nothing), which a document with every default already written would override."""
    document = apply_params(base, params)
    for key, value in resources.items():
        document.setdefault("scaling", {})[key] = value
    document.setdefault("tracking", {})["registered_model"] = None  # only the best gets registered
    return spec_from_dict(document, source="trial spec")


def _forwarding_callback(queue, metric: str, mode: str):
    """A Train callback (it runs in Train's controller) putting rank 0's metrics and the
    checkpoint path of every report on ``queue``. A report without the metric (a diverged
    trial reports its status only) gets the worst value: Tune rejects results without it."""
    from ray.train import UserCallback

    from ganforge.train.storage import checkpoint_uri

    worst = math.inf if mode == "min" else -math.inf

    class ForwardToTune(UserCallback):
        def after_report(self, run_context, metrics, checkpoint):
            first = dict(metrics[0])
            first.setdefault(metric, worst)
            queue.put((first, checkpoint_uri(checkpoint) if checkpoint else None))  # blocks until the trial took the last one

    return ForwardToTune()


def fit_and_forward(trainer_for, metric: str, mode: str):
    """Fit the trainer ``trainer_for(callbacks)`` builds while reporting its results to Tune
    (with checkpoints) from this, the trial function's, thread; returns Train's Result."""
    from ray import tune
    from ray.util.queue import Empty, Queue

    queue = Queue(maxsize=1, actor_options={"num_cpus": 0})
    outcome: dict[str, Any] = {}

    def fit():
        try:
            outcome["result"] = trainer_for([_forwarding_callback(queue, metric, mode)]).fit()
        except BaseException as err:  # re-raised in the trial function's thread below
            outcome["error"] = err

    worker = threading.Thread(target=fit, name="ganforge-trial-fit", daemon=True)
    worker.start()
    while worker.is_alive() or not queue.empty():
        try:
            metrics, path = queue.get(timeout=1.0)
        except Empty:
            continue
        tune.report(metrics, checkpoint=tune.Checkpoint(path) if path else None)
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _existing_child_run(client, parent, trial_id: str):
    """The trial's child run from an earlier session of this search, or None."""
    found = client.search_runs([parent.info.experiment_id],
                               f"tags.{TRIAL_TAG} = '{trial_id}' and tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return found[0] if found else None


def _child_run(spec: ExperimentSpec, client, parent, existing, trial_id: str, params: dict) -> str:
    """The trial's MLflow child run: re-used when a resumed search restarts the trial."""
    from mlflow.entities import Param, RunTag

    if existing is not None:
        run_id = existing.info.run_id
        client.update_run(run_id, status="RUNNING")
        if STOPPED_TAG in existing.data.tags:  # a paused (PBT) or interrupted trial goes on
            client.delete_tag(run_id, STOPPED_TAG)
        # A PBT exploit restarts the trial with mutated values: params are immutable in MLflow, tags are not.
        client.log_batch(run_id, tags=[RunTag(f"search.{k}.current", str(v)[:5000]) for k, v in params.items()])
        return run_id
    run_id = tracking.create_run(spec, client.tracking_uri, tags={
        "mlflow.parentRunId": parent.info.run_id, TRIAL_TAG: trial_id, SEARCH_TAG: parent.data.tags.get(SEARCH_TAG, "")})
    client.log_batch(run_id, params=[Param(f"search.{k}", str(v)[:6000]) for k, v in params.items()])
    return run_id


def report_finished(run) -> None:
    """Hand Tune the final result of a trial whose training finished in an earlier session.

    Tune records a trial's end asynchronously: a search interrupted just after a trial finished
    can restore that trial as unfinished, with an older checkpoint. Re-training it would only
    repeat steps (and their MLflow points); its final metrics and checkpoint are already stored.
    """
    from ray import tune

    from ganforge.train.driver import run_checkpoint

    latest = run_checkpoint(run)
    tune.report(dict(run.data.metrics), checkpoint=tune.Checkpoint(latest) if latest else None)


def in_trial_process(spec: ExperimentSpec) -> bool:
    """Whether a trial of ``spec`` runs the loop in its own process (one worker), not Train in Tune."""
    return spec.scaling.workers == 1


def trial_storage_dir() -> str:
    """This trial's directory in the search's storage (where Tune persists its checkpoints), in the
    form checkpoint paths take (``storage.checkpoint_uri``). Ray 2.60 exposes it only on the session."""
    from ray.train._internal.session import get_session

    from ganforge.train.storage import fs_uri

    storage = get_session().storage
    return fs_uri(storage.storage_filesystem, storage.trial_fs_path)


def _train_in_trial(loop_config: dict, metric: str, mode: str) -> dict:
    """The worker loop in this process, reporting to Tune; returns the last metrics it reported."""
    from ganforge.train.loop import run_loop
    from ganforge.train.session import TuneSession

    session = TuneSession(metric, mode)
    run_loop(loop_config, session)
    return session.last


def run_trial(config: dict, *, base: dict, parent_run_id: str, tracking_uri: str, search_name: str,
              metric: str, mode: str, resources: dict) -> None:
    """Tune function trainable: train one sampled spec (in this process, or through Ray Train when
    it has several workers); metrics and checkpoints flow to Tune."""
    from mlflow.tracking import MlflowClient
    from ray import tune

    from ganforge.train.driver import build_trainer
    from ganforge.train.storage import checkpoint_uri, join, storage_root

    trial_id = tune.get_context().get_trial_id()
    spec = trial_spec(base, config, resources)
    client = MlflowClient(tracking_uri)
    parent = client.get_run(parent_run_id)
    existing = _existing_child_run(client, parent, trial_id)
    if existing is not None and existing.info.status == "FINISHED":
        report_finished(existing)
        return
    run_id = _child_run(spec, client, parent, existing, trial_id, config)
    # A fresh Train run each time the trial (re)starts: re-using a Train run name would resume
    # that run's own checkpoint, but after a PBT exploit the trial must continue the donor's.
    run_name = f"{search_name}-{trial_id}-{uuid.uuid4().hex[:6]}"
    local = in_trial_process(spec)
    client.set_tag(run_id, tracking.CHECKPOINT_TAG, trial_storage_dir() if local else join(storage_root(spec), run_name))
    start = tune.get_checkpoint()
    resume_from = checkpoint_uri(start) if start is not None else None  # read by the workers from storage
    loop_config = {"spec": spec.to_dict(), "run_id": run_id, "tracking_uri": tracking_uri, "resume_from": resume_from}
    try:
        if local:
            last = _train_in_trial(loop_config, metric, mode)
        else:
            fitted = fit_and_forward(lambda callbacks: build_trainer(spec, loop_config, run_name, callbacks), metric, mode)
            last = fitted.metrics or {}
    except SystemExit:  # how ray.tune.report ends a trial the scheduler stopped (ASHA, PBT pause)
        mark_stopped(client, run_id)
        raise
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    diverged = last.get("status") == "diverged"
    client.set_terminated(run_id, status="FAILED" if diverged else "FINISHED")
