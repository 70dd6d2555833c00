"""The best evaluated generator is kept and is what a run registers (not the last); ADA's p and r_t are logged."""
from __future__ import annotations

import pytest
import torch

from ganforge.train.monitors.best import BestKeeper, tracked

pytestmark = pytest.mark.unit


def test_the_tracked_metric_matches_its_plain_name_under_any_extractor():
    assert tracked({"domain-digits.kid_mean": 0.1, "domain-digits.fid": 12.0, "domain-digits.fid_best": 11.0},
                   "fid") == ("domain-digits.fid", 12.0, True)
    assert tracked({"is_mean": 3.0}, "fid") == ("is_mean", 3.0, False)  # no FID: the first directional key
    assert tracked({"step": 3.0}, "fid") is None


def test_the_keeper_takes_only_improvements_in_the_metrics_direction(tmp_path):
    keeper = BestKeeper("fid", tmp_path)
    assert [keeper.improved(step, {"fid": v}) for step, v in [(1, 30.0), (2, 31.0), (3, 25.0), (4, float("nan"))]] \
        == [True, False, True, False]
    assert keeper.tags() == {"ganforge.best_step": "3", "ganforge.best_metric": "fid=25"}
    higher = BestKeeper("is", tmp_path)
    assert [higher.improved(s, {"is_mean": v}) for s, v in [(1, 2.0), (2, 1.0), (3, 4.0)]] == [True, False, True]


def test_the_registered_generator_is_the_best_evaluated_one(tmp_path):
    from ganforge.config import ExperimentSpec
    from ganforge.tasks import task_of
    from ganforge.train.checkpoint import load_checkpoint
    from ganforge.train.monitors.watch import Watch

    spec = ExperimentSpec(data={"name": "digits", "resolution": 16, "limit": 16},
                          model={"z_dim": 8, "options": {"ngf": 4, "ndf": 4}}, train={"ema": 0.0})
    meta = {"img_shape": [1, 16, 16], "num_classes": 0}
    modules = task_of(spec).build_modules(spec, meta, 1)
    watch = Watch(spec, modules, meta, "cpu")
    watched = []
    for step, fid in [(10, 30.0), (20, 20.0), (30, 40.0)]:
        with torch.no_grad():
            next(modules.G.parameters()).add_(1.0)  # the generator changes between evaluations
        watched.append(next(modules.G.parameters()).detach().clone())
        watch.on_eval(step, {"fid": fid})
    path, step = watch.registered_file(tmp_path / "last.pt", 30)
    assert step == 20
    saved = load_checkpoint(path)
    assert saved["step"] == 20 and torch.equal(next(iter(saved["G"].values())), watched[1])
    watch.close()
    assert watch.registered_file(tmp_path / "last.pt", 30) == (tmp_path / "last.pt", 30)  # nothing kept: the last


def test_ada_p_and_r_t_are_logged_at_log_intervals():
    from ganforge.augment.ada_control import AdaController
    from ganforge.config import ExperimentSpec
    from ganforge.tasks import task_of
    from ganforge.train.monitors.watch import Watch

    spec = ExperimentSpec(data={"name": "digits", "resolution": 16}, model={"z_dim": 8, "options": {"ngf": 4, "ndf": 4}},
                          monitors={"enabled": False})
    meta = {"img_shape": [1, 16, 16], "num_classes": 0}
    modules = task_of(spec).build_modules(spec, meta, 1)
    modules.extras["ada"] = ada = AdaController(p=0.25)
    for _ in range(4):
        ada.observe(torch.ones(8))
    assert Watch(spec, modules, meta, "cpu").on_log(25) == {"ada_p": ada.p, "ada_r_t": 1.0}
