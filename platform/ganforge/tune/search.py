"""The driver side of ``ganforge tune``: the parent MLflow run, the Tuner, resume, the outcome.

Each search gets a unique Tune experiment name under the spec's Ray storage; a small pointer
file (``<storage>/<spec name>-tune.latest.json``) remembers the last one and its parent run, so
``ganforge tune SPEC --resume`` restores it with ``Tuner.restore`` (finished trials are kept,
unfinished ones continue from their Train checkpoints).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from ganforge import tracking
from ganforge.config import ExperimentSpec
from ganforge.train.storage import join, read_text, storage_root, write_text
from ganforge.tune.space import SearchConfig, parse_search, scheduler_class, trial_iterations
from ganforge.tune.trial import SEARCH_TAG, in_trial_process, mark_stopped, run_trial, trial_spec

TUNE_CPU_PER_TRIAL = 0.01  # a Train-in-Tune trial only waits on its TorchTrainer (0 raises in Tune)


class SearchError(RuntimeError):
    """The search could not run or resume; the message says why."""


@dataclass
class SearchOutcome:
    """What a finished search produced."""

    parent_run_id: str
    tracking_uri: str
    experiment_path: str
    results: object  # ray.tune.ResultGrid
    search: SearchConfig


def pointer_file(spec: ExperimentSpec) -> str:
    """Where the latest search of this spec is remembered (for --resume): a path or URI."""
    return join(storage_root(spec), f"{spec.name}-tune.latest.json")


def build_scheduler(search: SearchConfig, spec: ExperimentSpec):
    """ASHA, PBT or None from the search section (time axis: Tune iterations = reports).

    PBT mutates the numeric dimensions only: an exploit copies the donor's checkpoint and config,
    and a mutated optimizer name or architecture would not fit the copied state. Categorical
    dimensions are sampled once per trial (and copied from donors with their checkpoints).
    """
    options = dict(search.scheduler_options)
    if search.scheduler == "asha":
        # One past the last report: at max_t ASHA would STOP the trial, and Tune then kills the trial
        # actor before Train's controller shuts down (final generator logging lost, placement group
        # left behind). Past it, a full trial ends by returning.
        options.setdefault("max_t", trial_iterations(spec) + 1)
        options.setdefault("grace_period", 1)
        options.setdefault("reduction_factor", 2)
        return scheduler_class("asha")(time_attr="training_iteration", **options)
    if search.scheduler == "pbt":
        mutations = {d.key: d.mutation() for d in search.dimensions if d.numeric}
        options.setdefault("perturbation_interval", max(1, trial_iterations(spec) // 4))
        return scheduler_class("pbt")(time_attr="training_iteration", hyperparam_mutations=mutations, **options)
    return None


def kept_checkpoints(search: SearchConfig) -> int:
    """Tune checkpoints kept per trial: PBT exploits copy a donor's, which must still exist when a
    later trial exploits it (Ray warns below 3); other schedulers need only the newest two."""
    return 4 if search.scheduler == "pbt" else 2


def _trainable(spec: ExperimentSpec, search: SearchConfig, parent_run_id: str, uri: str, name: str, trial_fn=None):
    from ray import tune

    base = spec.user_document()  # trials complete it as `ganforge train` would (loss recommendations)
    base["search"] = None
    function = tune.with_parameters(trial_fn or run_trial, base=base, parent_run_id=parent_run_id, tracking_uri=uri,
                                    search_name=name, metric=search.metric, mode=search.mode,
                                    resources=search.resources)
    return tune.with_resources(function, trial_resources(trial_spec(base, {}, search.resources)))


def trial_resources(spec: ExperimentSpec) -> dict:
    """What Tune reserves for a trial: a one-worker trial trains in its own process, so it holds
    that worker's CPUs (and GPU); a Train-in-Tune trial's workers hold theirs through Train."""
    if not in_trial_process(spec):
        return {"CPU": TUNE_CPU_PER_TRIAL}
    from ganforge.train.driver import uses_gpu

    return {"CPU": spec.scaling.cpus_per_worker, "GPU": 1 if uses_gpu(spec) else 0}


def _failure_config(spec: ExperimentSpec, search: SearchConfig):
    """A one-worker trial's restarts are Tune's (from the trial's last checkpoint), as Train's
    would be for a run; Train in Tune restarts its own workers."""
    from ray import tune

    trial = trial_spec(spec.user_document(), {}, search.resources)
    return tune.FailureConfig(max_failures=trial.train.max_failures if in_trial_process(trial) else 0)


def _tuner(spec, search, parent_run_id, uri, name, storage, trial_fn=None, param_space=None):
    from ray import tune

    trial_spec(spec.user_document(), {}, search.resources)  # fail before Ray if resources break the spec
    return tune.Tuner(
        _trainable(spec, search, parent_run_id, uri, name, trial_fn),
        param_space=param_space or search.param_space(),
        tune_config=tune.TuneConfig(metric=search.metric, mode=search.mode, num_samples=search.num_samples,
                                    scheduler=build_scheduler(search, spec),
                                    max_concurrent_trials=search.max_concurrent),
        # Tune keeps copies of the trials' Train checkpoints (PBT copies them between trials).
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=1, failure_config=_failure_config(spec, search),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=kept_checkpoints(search))),
    )


def _restore(spec, search, uri, trial_fn=None, param_space=None) -> tuple:
    from ray import tune

    pointer = pointer_file(spec)
    text = read_text(pointer)
    if text is None:
        raise SearchError(f"--resume: no earlier search of {spec.name!r} recorded at {pointer}")
    saved = json.loads(text)
    path = saved["path"]
    if not tune.Tuner.can_restore(path):
        raise SearchError(f"--resume: {path} holds no restorable Tune experiment")
    trainable = _trainable(spec, search, saved["parent_run_id"], uri, saved["name"], trial_fn)
    tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True,
                               param_space=param_space or search.param_space())
    return tuner, saved


def run_search(spec: ExperimentSpec, address: str | None = None, resume: bool = False,
               verbose: bool = False, *, trial_fn=None, param_space: dict | None = None,
               on_parent=None) -> SearchOutcome:
    """Run (or resume) the search ``spec.search`` describes; returns the ResultGrid and parent run.

    ``trial_fn`` (default :func:`run_trial`, same keyword arguments) and ``param_space`` (default
    the search section's) let ``ganforge study`` run its variants x seeds through this machinery:
    its trial function maps a Tune config to the dotted spec keys and calls ``run_trial``.
    ``on_parent(parent_run_id)`` is called once the parent run exists, before any trial
    starts (a study logs its plan there, so an interrupted study can still be reported).
    """
    from mlflow.tracking import MlflowClient

    from ganforge.console import say
    from ganforge.raycluster import connect

    search = parse_search(spec)
    uri = tracking.resolve_tracking_uri(spec)
    client = MlflowClient(uri)
    storage = storage_root(spec)
    if resume:
        connect(address, verbose=verbose)
        tuner, saved = _restore(spec, search, uri, trial_fn, param_space)
        parent_run_id, name = saved["parent_run_id"], saved["name"]
        client.update_run(parent_run_id, status="RUNNING")
        say(f"resuming search {name} (parent MLflow run {parent_run_id})")
    else:
        name = f"{spec.name}-tune-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        parent_run_id = tracking.create_run(spec, uri, tags={SEARCH_TAG: name, "ganforge.kind": "tune"})
        connect(address, verbose=verbose)
        tuner = _tuner(spec, search, parent_run_id, uri, name, storage, trial_fn, param_space)
        write_text(pointer_file(spec), json.dumps({"name": name, "path": join(storage, name),
                                                   "parent_run_id": parent_run_id}))
        say(f"search {name}: {search.num_samples} sample(s), scheduler {search.scheduler}, "
            f"metric {search.metric} ({search.mode}); parent MLflow run {parent_run_id}")
    try:
        if on_parent is not None:
            on_parent(parent_run_id)
        results = tuner.fit()
    except BaseException as err:
        client.set_terminated(parent_run_id, status="KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED")
        raise
    _close_children(client, parent_run_id)
    return SearchOutcome(parent_run_id, uri, join(storage, name), results, search)


def _close_children(client, parent_run_id: str) -> None:
    """Trials the scheduler stopped leave RUNNING child runs: mark them (tag + KILLED)."""
    parent = client.get_run(parent_run_id)
    for run in client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'"):
        if run.info.status == "RUNNING":
            mark_stopped(client, run.info.run_id)
