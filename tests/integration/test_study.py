"""``ganforge study`` end to end on the shared local Ray: 2 variants x 1 seed, a few steps at
16 px. The table's cells are the child runs' metrics at the ``at`` steps; the parent run holds
the report; the report rebuilt from MLflow alone is the same table; --resume of the finished study trains
nothing again."""
from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.integration

BASE = {
    "data": {"name": "digits", "resolution": 16, "limit": 64},
    "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
    "train": {"batch_size": 32, "log_every": 3, "grid_size": 4, "torch_threads": 1},
    "eval": {"metrics": ["fid"], "n": 64, "extractor": "domain:digits", "batch_size": 64},
    "tracking": {"experiment": "study-test", "registered_model": None},
}
FID = "domain-digits.fid"


def test_study_runs_variants_as_child_runs_and_rebuilds_its_report(ray_session, mlflow_uri, tmp_path):
    from mlflow.tracking import MlflowClient

    from ganforge.study.report import collect, report
    from ganforge.study.run import VARIANT_TAG, run_study
    from ganforge.study.spec import parse_study

    base = {**BASE, "scaling": {"storage_path": str(tmp_path / "ray")}}
    study = parse_study({"name": "tiny", "base": base, "at": [3, 6], "metrics": [FID, "g_loss"], "max_concurrent": 2,
                         "variants": [{"name": "adam", "set": {}}, {"name": "hinge", "set": {"loss.name": "hinge"}}]})
    outcome = run_study(study)
    first = report(outcome.tracking_uri, outcome.parent_run_id, tmp_path / "out")

    client = MlflowClient(mlflow_uri)
    parent = client.get_run(outcome.parent_run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
    by_variant = {r.data.tags[VARIANT_TAG]: r for r in children}
    assert sorted(by_variant) == ["adam", "hinge"] and all(r.info.status == "FINISHED" for r in children)
    assert by_variant["hinge"].data.params["search.loss.name"] == "hinge"
    results = collect(outcome.tracking_uri, outcome.parent_run_id)
    for name, run in by_variant.items():  # one seed: each cell is the child run's value at that step
        logged = {p.step: p.value for p in client.get_metric_history(run.info.run_id, FID)}
        assert set(logged) >= {3, 6}
        for step in (3, 6):
            assert math.isclose(results.histories[name][0][FID][step], logged[step])
            assert f"{logged[step]:.4g} ± 0" in first
    artifacts = {a.path for a in client.list_artifacts(outcome.parent_run_id, "report")}
    assert {"report/table.md", "report/table.csv", "report/table.html", f"report/{FID}.png",
            "report/g_loss.png", "report/samples.png"} <= artifacts
    assert set(results.samples) == {"adam", "hinge"}
    rebuilt = report(outcome.tracking_uri, outcome.parent_run_id, tmp_path / "again")
    assert rebuilt == first

    # --resume of the finished study: the same parent, no trial trained again (no new points).
    points = {r.info.run_id: len(client.get_metric_history(r.info.run_id, "g_loss")) for r in children}
    again = run_study(study, resume=True)
    assert again.parent_run_id == outcome.parent_run_id
    after = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{outcome.parent_run_id}'")
    assert {r.info.run_id: len(client.get_metric_history(r.info.run_id, "g_loss")) for r in after} == points
