"""``ganforge tune`` end to end on the shared local Ray instance: trials as MLflow child runs,
ASHA stopping poor trials, the best spec training, and --resume keeping finished trials.

Each Train-in-Tune trial costs about 30 s on 2 cores, so these searches are 2 tiny trials each.
The ASHA test searches ``lr_g`` (the learning rate the loop reports; mode max) over a grid, so
which trials are poor is known in advance and the assertion is deterministic.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

TINY = {
    "data": {"name": "digits", "resolution": 16, "limit": 256},
    "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
    "train": {"steps": 30, "batch_size": 32, "log_every": 10, "sample_every": 0, "checkpoint_every": 10,
              "grid_size": 16, "torch_threads": 1},
    "eval": {"every": 10, "metrics": ["fid"], "n": 64, "extractor": "domain:digits", "batch_size": 64},
}
FID = "domain-digits.fid"  # the digits classifier's FID: metric names say their network


def write_spec(tmp_path: Path, name: str, search: dict, uri: bool = True) -> Path:
    # A file:// URI: searches keep their state, pointer and trial checkpoints through pyarrow fs.
    storage = f"file://{tmp_path / 'ray'}" if uri else str(tmp_path / "ray")
    document = {"name": name, **TINY, "scaling": {"storage_path": storage},
                "tracking": {"experiment": name, "registered_model": f"{name}-best"}, "search": search}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def ganforge(args: list[str], address: str, **popen):
    env = {**os.environ, "RAY_ADDRESS": address}
    command = [sys.executable, "-m", "ganforge.cli", *args]
    if popen:
        return subprocess.Popen(command, env=env, text=True, **popen)
    return subprocess.run(command, env=env, text=True, capture_output=True, timeout=900)


def search_in_process(spec_path: Path):
    """What `ganforge tune SPEC` does, in this process (the shared Ray; the CLI's own run is the
    side-by-side e2e test): the search, then its table, plots, best spec and registration."""
    from ganforge.config import load_spec
    from ganforge.tune.search import run_search
    from ganforge.tune.summary import summarize

    spec = load_spec(spec_path)
    outcome = run_search(spec)
    return outcome, summarize(outcome, spec)


def outputs(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line and not line.startswith("|"))


def children(uri: str, parent_run_id: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_run(parent_run_id).info.experiment_id
    return client, client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent_run_id}'")


def test_tune_asha_child_runs_best_spec(ray_session, mlflow_uri, tmp_path):
    spec = write_spec(tmp_path, "tune-e2e", {
        "space": {"optim.g.lr": "grid(1e-3, 1e-6)"}, "metric": "lr_g", "mode": "max",
        "scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2}, "truncation": [0.5, None]})
    outcome, summary = search_in_process(spec)
    assert outcome.experiment_path.startswith(f"file://{tmp_path / 'ray'}/")
    client, runs = children(mlflow_uri, outcome.parent_run_id)
    assert len(runs) == 2
    for run in runs:  # every trial: its own child run with the searched param and metrics
        assert float(run.data.params["search.optim.g.lr"]) in (1e-3, 1e-6)
        assert run.data.params["optim.g.lr"] == run.data.params["search.optim.g.lr"]
        assert "lr_g" in run.data.metrics and FID in run.data.metrics and "fid" not in run.data.metrics
    with open(Path(summary.output_dir) / "results.csv") as handle:
        table = list(csv.DictReader(handle))
    iterations = sorted((int(row["iterations"]), float(row["optim.g.lr"])) for row in table)
    # Tune's own count of results. One trial at a time (max_concurrent 1), in grid order: 1e-3 passes
    # every rung alone and runs all 3; 1e-6 is below the rung-1 median of (1e-3, 1e-6) and is cut.
    assert iterations == [(1, 1e-6), (3, 1e-3)], iterations
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]
    best = Path(summary.best_spec)
    from ganforge.config import load_spec
    from ganforge.train.driver import run_training

    loaded = load_spec(best)
    assert loaded.optim.g.lr == pytest.approx(1e-3) and loaded.search is None
    assert summary.registered == "models:/tune-e2e-best/1"
    assert [row["truncation"] for row in summary.truncation_rows] == [0.5, "none"]
    assert all(FID in row for row in summary.truncation_rows)
    artifacts = {a.path for a in client.list_artifacts(outcome.parent_run_id, "search")}
    assert {"search/results.csv", "search/results.md", "search/metric_curves.png", "search/truncation.png",
            f"search/{best.name}"} <= artifacts
    trained = run_training(load_spec(best, ["train.steps=10", "tracking.registered_model=null"]))
    assert client.get_run(trained.run_id).info.status == "FINISHED"


def _wait_for_finished_trial(uri: str, pointer: Path, process, timeout: float = 600) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if pointer.is_file():
            _, runs = children(uri, json.loads(pointer.read_text())["parent_run_id"])
            finished = [r for r in runs if r.info.status == "FINISHED"]
            if finished:
                return finished[0].info.run_id
        time.sleep(3)
    raise AssertionError("no trial finished before the interruption")


def test_tune_resume_keeps_finished_trials(ray_session, mlflow_uri, tmp_path):
    spec = write_spec(tmp_path, "tune-resume", {
        "space": {"optim.g.lr": "grid(1e-3, 2e-3)"}, "metric": FID, "mode": "min", "scheduler": "none"},
        uri=False)  # a plain path, as before: once, on file://, the finished trial trained again after --resume
    process = ganforge(["tune", str(spec)], ray_session, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    pointer = tmp_path / "ray" / "tune-resume-tune.latest.json"
    first = _wait_for_finished_trial(mlflow_uri, pointer, process)
    process.send_signal(signal.SIGINT)  # Tune saves its state and stops the running trial
    process.communicate(timeout=120)
    client, runs = children(mlflow_uri, json.loads(pointer.read_text())["parent_run_id"])
    history_before = [m.step for m in client.get_metric_history(first, FID)]
    resumed = ganforge(["tune", str(spec), "--resume"], ray_session)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client, runs = children(mlflow_uri, outputs(resumed.stdout)["parent_run_id"])
    assert len(runs) == 2 and all(r.info.status == "FINISHED" for r in runs)
    # The finished trial was kept, not re-run: same child run, no new fid points.
    assert history_before and [m.step for m in client.get_metric_history(first, FID)] == history_before


def test_pbt_exploit_continues_from_the_donors_checkpoint_with_its_own_lr(ray_session, mlflow_uri, tmp_path):
    """Two trials, lr 1e-3 and 1e-6 (metric lr_g, mode max: 1e-6 is the poor one), synchronous PBT
    perturbing at Tune iteration 2 (step 20). The poor trial takes the good one's step-20
    checkpoint and config, PBT moves its lr along the grid, and it continues from step 20 with the
    new lr (not the lr saved in the donor's optimizer state)."""
    spec = write_spec(tmp_path, "tune-pbt", {
        "space": {"optim.g.lr": "grid(1e-3, 1e-6)"}, "metric": "lr_g", "mode": "max", "max_concurrent": 2,
        "scheduler": {"name": "pbt", "perturbation_interval": 2, "quantile_fraction": 0.5,
                      "resample_probability": 0.0, "synch": True}})
    outcome, _ = search_in_process(spec)
    client, runs = children(mlflow_uri, outcome.parent_run_id)
    by_lr = {float(r.data.params["search.optim.g.lr"]): r for r in runs}
    good, poor = by_lr[1e-3], by_lr[1e-6]
    assert poor.data.tags["ganforge.restored_from_step"] == "20"
    assert good.data.tags["ganforge.trial_id"] in poor.data.tags["ganforge.restored_from"]  # the donor's checkpoint
    new_lr = float(poor.data.tags["search.optim.g.lr.current"])
    assert new_lr in (1e-3, 1e-6)  # PBT moved along the grid from the donor's 1e-3
    history = client.get_metric_history(poor.info.run_id, "lr_g")
    last = max(history, key=lambda m: (m.timestamp, m.step))
    assert last.step == 30 and last.value == pytest.approx(new_lr)
    assert max(m.step for m in client.get_metric_history(poor.info.run_id, FID)) == 30
