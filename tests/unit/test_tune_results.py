"""Results table, best spec and trial spec helpers on a fake ResultGrid (no Ray run)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from ganforge.config import ExperimentSpec, load_spec
from ganforge.tune import results as res
from ganforge.tune.trial import trial_spec


def fake_result(trial_id: str, lr: float, fids: list[float], error=None):
    frame = pd.DataFrame({"training_iteration": range(1, len(fids) + 1), "fid": fids})
    return SimpleNamespace(metrics={"trial_id": trial_id, "fid": fids[-1], "training_iteration": len(fids)},
                           config={"optim.g.lr": lr}, metrics_dataframe=frame, error=error, path=f"/x/{trial_id}")


@pytest.fixture
def rows():
    grid = [fake_result("a", 1e-3, [90.0, 70.0, 60.0]), fake_result("b", 1e-5, [95.0]),
            fake_result("c", 1e-2, [80.0, math.inf]), fake_result("d", 1e-1, [math.inf])]
    children = {"a": ("run-a", "FINISHED"), "b": ("run-b", "KILLED"), "c": ("run-c", "FAILED"), "d": ("run-d", "FAILED")}
    return res.collect_rows(grid, "fid", "min", children)


def test_rows_sorted_best_first_with_status(rows):
    # By each trial's best value; c diverged after reaching 80, d never had a finite value (last).
    assert [r.trial_id for r in rows] == ["a", "c", "b", "d"]
    assert [r.status for r in rows] == ["finished", "failed", "stopped early", "failed"]
    assert [r.iterations for r in rows] == [3, 2, 1, 1]
    assert rows[1].best == 80.0 and rows[0].best == 60.0 and math.isnan(rows[3].best)


def test_table_markdown_csv(rows):
    header, cells = res.table(rows, "fid")
    assert header == ["trial", "optim.g.lr", "fid", "fid_best", "iterations", "status", "mlflow_run"]
    text = res.markdown(header, cells)
    assert text.splitlines()[2] == "| a | 0.001 | 60 | 60 | 3 | finished | run-a |"
    assert res.csv_text(header, cells).splitlines()[1] == "a,0.001,60,60,3,finished,run-a"


def test_plot_curves(rows, tmp_path):
    path = res.plot_curves(rows, "fid", tmp_path / "curves.png", steps_per_iteration=10)
    assert path.stat().st_size > 1000


def test_best_spec_round_trips_and_keeps_registration(rows, tmp_path):
    spec = ExperimentSpec(name="s", tracking={"registered_model": "s-gen"},
                          search={"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "metric": "g_loss"})
    path = res.write_best_spec(spec, rows[0], {"workers": 1}, tmp_path / "best.yaml")
    best = load_spec(path)
    assert best.optim.g.lr == 1e-3 and best.search is None and best.name == "s-best"
    assert best.tracking.registered_model == "s-gen"


def test_trial_spec_applies_params_resources_and_drops_registration():
    base = ExperimentSpec(tracking={"registered_model": "x"}).to_dict()
    spec = trial_spec(base, {"optim.d.name": "rmsprop", "train.seed": 3}, {"cpus_per_worker": 0.5})
    assert (spec.optim.d.name, spec.train.seed, spec.scaling.cpus_per_worker) == ("rmsprop", 3, 0.5)
    assert spec.tracking.registered_model is None



@pytest.mark.parametrize("mode, histories, expected", [
    # "peaked" reached 50 and then got worse; "steady" never went below 60. Ranked by the last
    # value "steady" comes first; by the best (what <metric>_best and the search's mode mean) "peaked".
    ("min", {"steady": [90.0, 70.0, 60.0], "peaked": [50.0, 65.0]}, ["peaked", "steady"]),
    ("max", {"steady": [0.2, 0.4, 0.5], "peaked": [0.7, 0.3]}, ["peaked", "steady"]),
])
def test_trials_rank_by_their_best_value_not_their_last(mode, histories, expected):
    grid = [fake_result(name, 1e-3, values) for name, values in histories.items()]
    rows = res.collect_rows(grid, "fid", mode, {name: (f"run-{name}", "FINISHED") for name in histories})
    assert [r.trial_id for r in rows] == expected


def test_best_spec_is_completed_like_the_trial(tmp_path):
    """A winner that sampled loss.name=wgan gets WGAN's RMSProp and 5 critics in its best spec,
    as its trial trained (the defaults of the base spec's loss must not stick)."""
    path = tmp_path / "search.yaml"
    path.write_text("model: {name: dcgan}\nloss: {name: non-saturating}\n"
                    "search: {space: {loss.name: 'choice(wgan, hinge)'}, metric: g_loss, mode: min}\n")
    spec = load_spec(path)
    row = res.TrialRow("t1", {"loss.name": "wgan"}, 1.0, 1.0, 1, "finished", "r", [])
    best = load_spec(res.write_best_spec(spec, row, {}, tmp_path / "best.yaml"))
    assert (best.loss.name, best.optim.g.name, best.optim.d.name, best.loss.n_critic) == ("wgan", "rmsprop", "rmsprop", 5)
