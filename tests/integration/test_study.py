"""``ganforge study`` end to end on the shared local Ray: 2 variants x 1 seed, a few steps at 16 px.

One study, two sessions. The plan is on the parent run before any trial starts. The first is interrupted: the second variant's trial fails before it
trains (as a killed trial would). Its report, rebuilt from MLflow alone, shows that variant's cells
as missing and says so. ``ganforge study STUDY --resume`` (the CLI, as a user types it) then trains
only the missing variant: the finished one keeps its child run and its metric points. The final
table's cells are the child runs' metrics at the ``at`` steps (what an uninterrupted study's
report shows), the parent run holds the report, and the report rebuilt from MLflow is the same.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.integration

BASE = {
    "data": {"name": "digits", "resolution": 16, "limit": 64},
    "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
    "train": {"batch_size": 32, "log_every": 3, "grid_size": 4, "torch_threads": 1},
    "eval": {"metrics": ["fid"], "n": 64, "extractor": "domain:digits", "batch_size": 64},
    "tracking": {"experiment": "study-test", "registered_model": None},
}
FID = "domain-digits.fid"


PLAN_SEEN = "test.plan_seen_by_a_trial"


def fail_hinge(config, **kwargs):
    """The first session's trial function: the hinge variant is interrupted before it trains,
    after noting on the parent run whether the study's plan was already there."""
    from mlflow.tracking import MlflowClient

    from ganforge.study.run import VARIANT_KEY, logged_plan, run_study_trial

    if config[VARIANT_KEY] == "hinge":
        seen = logged_plan(kwargs["tracking_uri"], kwargs["parent_run_id"]) is not None
        MlflowClient(kwargs["tracking_uri"]).set_tag(kwargs["parent_run_id"], PLAN_SEEN, str(seen))
        raise RuntimeError("interrupted (test)")
    run_study_trial(config, **kwargs)


def children(client, parent_run_id: str) -> dict:
    from ganforge.study.run import VARIANT_TAG

    experiment = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    return {r.data.tags[VARIANT_TAG]: r for r in runs}


def resume_with_the_cli(path, output, address: str) -> dict[str, str]:
    """``ganforge study PATH --resume --output OUTPUT``, joining the session's Ray; its key: value lines."""
    env = {**os.environ, "RAY_ADDRESS": address}
    done = subprocess.run([sys.executable, "-m", "ganforge.cli", "study", str(path), "--resume", "--output", str(output)],
                          env=env, text=True, capture_output=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line and not line.startswith("|"))


def test_an_interrupted_study_is_reported_and_resumed_without_rerunning_its_finished_variant(
        ray_session, mlflow_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    from ganforge.study.report import collect, report
    from ganforge.study.run import run_study
    from ganforge.study.spec import load_study

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny", "base": {**BASE, "scaling": {"storage_path": str(tmp_path / "ray")}}, "at": [3, 6],
        "metrics": [FID, "g_loss"], "max_concurrent": 2,
        "variants": [{"name": "adam", "set": {}}, {"name": "hinge", "set": {"loss.name": "hinge"}}]}))
    first = run_study(load_study(path), trial=fail_hinge)
    parent = first.parent_run_id
    client = MlflowClient(mlflow_uri)
    assert sorted(children(client, parent)) == ["adam"]
    assert client.get_run(parent).data.tags[PLAN_SEEN] == "True"  # logged before any trial ran
    interrupted = report(mlflow_uri, parent, tmp_path / "interrupted")
    assert "| hinge | n/a | n/a | n/a | n/a |" in interrupted
    assert "- hinge: 0 of 1 seed(s) reached step 6 (not run yet)" in interrupted and "adam:" not in interrupted
    adam = children(client, parent)["adam"]
    points = len(client.get_metric_history(adam.info.run_id, "g_loss"))

    printed = resume_with_the_cli(path, tmp_path / "out", ray_session)
    assert printed["parent_run_id"] == parent
    after = children(client, parent)
    assert sorted(after) == ["adam", "hinge"] and all(r.info.status == "FINISHED" for r in after.values())
    assert after["adam"].info.run_id == adam.info.run_id  # not trained again: the same run, no new points
    assert len(client.get_metric_history(adam.info.run_id, "g_loss")) == points
    assert after["hinge"].data.params["search.loss.name"] == "hinge"

    final = (tmp_path / "out" / "table.md").read_text()
    assert "Unfinished" not in final
    results = collect(mlflow_uri, parent)
    for name, run in after.items():  # one seed: each cell is the child run's value at that step
        logged = {p.step: p.value for p in client.get_metric_history(run.info.run_id, FID)}
        assert set(logged) >= {3, 6}
        for step in (3, 6):
            assert math.isclose(results.histories[name][0][FID][step], logged[step])
            assert f"{logged[step]:.4g} ± 0" in final
    artifacts = {a.path for a in client.list_artifacts(parent, "report")}
    assert {"report/table.md", "report/table.csv", "report/table.html", f"report/{FID}.png",
            "report/g_loss.png", "report/samples.png"} <= artifacts
    assert set(results.samples) == {"adam", "hinge"}
    assert report(mlflow_uri, parent, tmp_path / "again") == final
