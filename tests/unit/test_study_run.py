"""The study's plan in MLflow without Ray: logged on the parent run, read back by the report of
a study none of whose trials has finished, checked by --resume, and the finished variant x seed
a resumed trial finds instead of training again."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.unit

from test_study_spec import BASE, FID  # the tiny base spec the study-document tests use


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite MLflow store for the module (creating one costs seconds); each test its own experiment."""
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}", root


def experiment(client, root) -> str:
    import uuid

    name = uuid.uuid4().hex
    return client.create_experiment(name, artifact_location=str(root / name))


def study(tmp_path, **fields):
    from ganforge.study.spec import parse_study

    base = {**BASE, "scaling": {"storage_path": str(tmp_path / "ray")}}
    return parse_study({"name": "t", "base": base, "at": [4, 6], "metrics": [FID], "repeats": 2,
                        "variants": [{"name": "a"}, {"name": "b", "set": {"loss.name": "hinge"}}], **fields})


def parent_with_plan(uri: str, tmp_path, plan) -> str:
    """A parent run holding ``plan``, remembered by the study's Tune pointer (as run_search writes it)."""
    from mlflow.tracking import MlflowClient

    from ganforge.study.run import log_plan, search_spec
    from ganforge.train.storage import write_text
    from ganforge.tune.search import pointer_file

    client = MlflowClient(uri)
    parent = client.create_run(experiment(client, tmp_path)).info.run_id
    log_plan(uri, parent, plan)
    write_text(pointer_file(search_spec(plan)), json.dumps({"name": "x", "path": str(tmp_path), "parent_run_id": parent}))
    return parent


def test_the_report_of_a_study_whose_trials_never_ran_lists_every_cell_as_missing(store, tmp_path):
    from ganforge.study.report import collect, missing

    mlflow_uri, _ = store
    parent = parent_with_plan(mlflow_uri, tmp_path, study(tmp_path))
    results = collect(mlflow_uri, parent)
    assert (results.variants, results.at, results.seeds) == (["a", "b"], [4, 6], [0, 1])
    assert missing(results) == ["a: 0 of 2 seed(s) reached step 6 (not run yet)",
                                "b: 0 of 2 seed(s) reached step 6 (not run yet)"]


def test_resume_refuses_a_study_whose_plan_changed(store, tmp_path):
    from ganforge.study.run import check_resume, search_spec
    from ganforge.study.spec import StudyError

    mlflow_uri, _ = store
    plan = study(tmp_path)
    parent_with_plan(mlflow_uri, tmp_path, plan)
    check_resume(plan, search_spec(plan), mlflow_uri)  # the same study: fine
    changed = study(tmp_path, at=[4, 8])
    with pytest.raises(StudyError, match=r"--resume: study 't' changed since its parent run \w+ began \(at differ\)"):
        check_resume(changed, search_spec(changed), mlflow_uri)


def test_resume_without_an_earlier_run_says_to_run_it_fresh(store, tmp_path):
    from ganforge.study.run import check_resume, search_spec
    from ganforge.study.spec import StudyError

    mlflow_uri, _ = store
    plan = study(tmp_path)
    with pytest.raises(StudyError, match="--resume: no earlier run of study 't' recorded at .*; run it without --resume"):
        check_resume(plan, search_spec(plan), mlflow_uri)


def test_a_resumed_trial_finds_only_its_own_finished_variant_and_seed(store):
    from mlflow.tracking import MlflowClient

    from ganforge.study.run import SEED_TAG, VARIANT_TAG, _finished_run

    mlflow_uri, root = store
    client = MlflowClient(mlflow_uri)
    experiment_id = experiment(client, root)
    parent = client.create_run(experiment_id)

    def child(variant: str, seed: int, status: str) -> str:
        run = client.create_run(experiment_id, tags={"mlflow.parentRunId": parent.info.run_id,
                                                  VARIANT_TAG: variant, SEED_TAG: str(seed)})
        client.set_terminated(run.info.run_id, status=status)
        return run.info.run_id

    done = child("a / lr=0.1", 0, "FINISHED")
    child("a / lr=0.1", 1, "FAILED")
    assert _finished_run(client, parent, "a / lr=0.1", 0).info.run_id == done
    assert _finished_run(client, parent, "a / lr=0.1", 1) is None  # failed: trains again
    assert _finished_run(client, parent, "b", 0) is None
