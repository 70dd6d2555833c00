"""The trial function's restart decisions, without a Ray cluster (Tune's calls are faked)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from ganforge import tracking
from ganforge.tune import trial as trial_module


@pytest.fixture
def fake_tune(monkeypatch):
    """ray.tune's context/report/get_checkpoint as a trial function sees them; reports recorded."""
    from ray import tune

    reports = []
    monkeypatch.setattr(tune, "get_context", lambda: SimpleNamespace(get_trial_id=lambda: "trial_0"))
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: reports.append((metrics, checkpoint)))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    return reports


def test_a_trial_that_finished_before_the_interruption_is_not_trained_again(mlflow_uri, tmp_path, fake_tune,
                                                                            monkeypatch):
    """Tune can restore a finished trial as unfinished (it records ends asynchronously); the
    trial then reports the child run's final metrics and newest checkpoint instead of training."""
    client = MlflowClient(mlflow_uri)
    experiment = client.create_experiment("search")
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent, trial_module.TRIAL_TAG: "trial_0"})
    run_id = child.info.run_id
    for step, fid in [(10, 80.0), (20, 60.0), (30, 50.0)]:
        client.log_metric(run_id, "fid", fid, step=step)
    train_dir = tmp_path / "ray" / "search-trial_0-abc"
    for name in ("checkpoint_2026-01-01_00-00-01", "checkpoint_2026-01-01_00-00-09"):
        (train_dir / name).mkdir(parents=True)
        (train_dir / name / "checkpoint.pt").write_bytes(b"x")
    client.set_tag(run_id, tracking.CHECKPOINT_TAG, str(train_dir))
    client.set_terminated(run_id, "FINISHED")
    for path in ("fit_and_forward", "_train_in_trial"):
        monkeypatch.setattr(trial_module, path, lambda *a, **k: pytest.fail("the finished trial trained again"))

    trial_module.run_trial({"optim.g.lr": 1e-3}, base={"name": "t", "data": {"name": "digits"}}, parent_run_id=parent,
                           tracking_uri=mlflow_uri, search_name="search", metric="fid", mode="min", resources={})

    [(metrics, checkpoint)] = fake_tune
    assert metrics["fid"] == 50.0
    assert checkpoint.path.endswith("checkpoint_2026-01-01_00-00-09")
    assert [m.step for m in client.get_metric_history(run_id, "fid")] == [10, 20, 30]
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.parametrize("workers, trains_through", [(1, "_train_in_trial"), (2, "fit_and_forward")])
def test_an_interrupted_trial_trains_on_in_its_own_child_run(mlflow_uri, fake_tune, monkeypatch, workers,
                                                             trains_through):
    """One worker: the loop runs in the trial's process, its checkpoints are the trial's (Tune's);
    several: Train in Tune, checkpoints in a fresh Train run's directory."""
    client = MlflowClient(mlflow_uri)
    experiment = client.create_experiment("search")
    parent = client.create_run(experiment).info.run_id
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent, trial_module.TRIAL_TAG: "trial_0",
                                                trial_module.STOPPED_TAG: "true"})
    client.set_terminated(child.info.run_id, "KILLED")
    fitted = []
    monkeypatch.setattr(trial_module, "fit_and_forward", lambda *a, **k: fitted.append("fit_and_forward")
                        or SimpleNamespace(metrics={}))
    monkeypatch.setattr(trial_module, "_train_in_trial", lambda *a, **k: fitted.append("_train_in_trial") or {})
    monkeypatch.setattr(trial_module, "trial_storage_dir", lambda: "/storage/search/trial_0")

    trial_module.run_trial({"optim.g.lr": 2e-3}, base={"name": "t", "data": {"name": "digits"}}, parent_run_id=parent,
                           tracking_uri=mlflow_uri, search_name="search", metric="fid", mode="min",
                           resources={"workers": workers})

    assert fitted == [trains_through] and not fake_tune
    run = client.get_run(child.info.run_id)
    checkpoints = run.data.tags[tracking.CHECKPOINT_TAG]
    assert (checkpoints == "/storage/search/trial_0") == (workers == 1)
    assert run.info.status == "FINISHED" and trial_module.STOPPED_TAG not in run.data.tags
    assert run.data.tags["search.optim.g.lr.current"] == "0.002"


def _child(client, tags=None) -> str:
    experiment = client.get_experiment_by_name("search") or client.create_experiment("search")
    experiment = getattr(experiment, "experiment_id", experiment)
    return client.create_run(experiment, tags=tags or {}).info.run_id


def test_marking_a_run_stopped_tolerates_the_trial_and_the_driver_doing_it_at_once(mlflow_uri, monkeypatch):
    """The other writer's insert of the same tag wins; ours fails (sqlite UNIQUE) and is not an error."""
    from mlflow.exceptions import MlflowException

    client = MlflowClient(mlflow_uri)
    run_id = _child(client, {trial_module.STOPPED_TAG: "true"})  # the other writer got there first

    def losing_insert(*args, **kwargs):
        raise MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: tags.key, tags.run_uuid")

    monkeypatch.setattr(client, "set_tag", losing_insert)
    trial_module.mark_stopped(client, run_id)
    assert client.get_run(run_id).info.status == "KILLED"

    other = _child(client)  # no tag written by anyone: the failure is real and surfaces
    with pytest.raises(MlflowException):
        trial_module.mark_stopped(client, other)


# --- a trial trains what `ganforge train` would -----------------------------------------------------

USER_SPEC = """
name: t
data: {name: digits}
loss: {name: hinge}
optim:
  d: {lr: 3.0e-4}
search:
  space: {loss.name: choice(hinge, wgan, wgan-gp)}
"""


@pytest.mark.parametrize("loss, g_optim, n_critic", [("wgan", "rmsprop", 5), ("wgan-gp", "adam", 5), ("hinge", "adam", 1)])
def test_trial_spec_is_what_train_makes_of_the_user_spec_plus_the_sampled_values(tmp_path, loss, g_optim, n_critic):
    """The loss's recommendations (WGAN: RMSProp and 5 critics) fill what the user left unset,
    exactly as `ganforge train SPEC --set loss.name=...` fills them; what the user wrote wins."""
    from ganforge.config import load_spec

    path = tmp_path / "t.yaml"
    path.write_text(USER_SPEC)
    user = load_spec(path)
    trial = trial_module.trial_spec(user.user_document(), {"loss.name": loss}, {"workers": 1})
    train = load_spec(path, [f"loss.name={loss}", "search=null", "scaling.workers=1", "tracking.registered_model=null"])
    assert trial.to_dict() == train.to_dict()
    assert (trial.optim.g.name, trial.loss.n_critic) == (g_optim, n_critic)
    assert trial.optim.d.lr == 3e-4  # the user's own setting beats the loss's recommended lr
