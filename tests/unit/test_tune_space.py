"""The search-space parser: every distribution, nested keys, clear errors; scheduler building."""
from __future__ import annotations

import pytest

from ganforge.config import ExperimentSpec
from ganforge.tune.space import SearchSpaceError, apply_params, parse_distribution, parse_search, trial_iterations

EVAL = {"every": 10, "metrics": ["fid"], "n": 16, "extractor": "domain:digits"}


def make_spec(search: dict, **sections) -> ExperimentSpec:
    base = {"search": {"metric": "domain-digits.fid", "mode": "min", **search}, "train": {"steps": 30, "checkpoint_every": 10, "log_every": 5},
            "eval": EVAL}
    base.update(sections)
    return ExperimentSpec(**base)


@pytest.mark.parametrize("text, kind, args", [
    ("uniform(0.1, 0.9)", "uniform", (0.1, 0.9)),
    ("loguniform(1e-5, 1e-3)", "loguniform", (1e-5, 1e-3)),
    ("randint(1, 5)", "randint", (1, 5)),
    ("choice(adam, rmsprop, sgd, nesterov)", "choice", ("adam", "rmsprop", "sgd", "nesterov")),
    ("grid(1, 2, 3)", "grid", (1, 2, 3)),
    ("  Choice( a )", "choice", ("a",)),
])
def test_every_distribution(text, kind, args):
    dim = parse_distribution("k", text)
    assert (dim.kind, dim.args) == (kind, args)
    dim.to_tune()  # builds the Ray Tune domain


def test_plain_list_is_choice():
    assert parse_distribution("k", [1, 2]).kind == "choice"


def test_ray_domains():
    from ray.tune.search.sample import Categorical, Float, Integer

    assert isinstance(parse_distribution("k", "loguniform(1e-5, 1e-3)").to_tune(), Float)
    assert isinstance(parse_distribution("k", "randint(0, 3)").to_tune(), Integer)
    assert isinstance(parse_distribution("k", "choice(a, b)").to_tune(), Categorical)
    assert parse_distribution("k", "grid(a, b)").to_tune() == {"grid_search": ["a", "b"]}


@pytest.mark.parametrize("text, message", [
    ("normal(0, 1)", "unknown distribution 'normal'"),
    ("loguniform(0, 1)", "must be > 0"),
    ("uniform(2, 1)", "low must be below high"),
    ("uniform(1)", "exactly two arguments"),
    ("randint(0.5, 3)", "must be integers"),
    ("uniform(a, b)", "must be numbers"),
    ("0.001", "is not a distribution"),
    ("choice()", "cannot read the arguments"),
])
def test_bad_distributions(text, message):
    with pytest.raises(SearchSpaceError, match=message) as info:
        parse_distribution("optim.g.lr", text)
    assert "search.space.optim.g.lr" in str(info.value)


def test_nested_keys_and_settings():
    spec = make_spec({"space": {"optim.g.lr": "loguniform(1e-5, 1e-3)", "optim.d.name": "choice(adam, rmsprop, sgd, nesterov)",
                                "schedule.name": "choice(none, step, exponential, cosine)", "train.seed": "randint(0, 9)",
                                "loss.name": "grid(non-saturating, hinge)", "model.options.ngf": "choice(8, 16)"},
                      "scheduler": {"name": "asha", "grace_period": 2}, "num_samples": 3, "truncation": [0.5, None],
                      "resources": {"workers": 1}})
    search = parse_search(spec)
    assert [d.key for d in search.dimensions][:2] == ["optim.g.lr", "optim.d.name"]
    assert (search.scheduler, search.scheduler_options, search.num_samples) == ("asha", {"grace_period": 2}, 3)
    assert search.truncation == [0.5, None]
    assert set(search.param_space()) == {d.key for d in search.dimensions}
    assert trial_iterations(spec) == 3


def test_apply_params_sets_nested_keys_and_drops_search():
    spec = make_spec({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}})
    document = apply_params(spec.to_dict(), {"optim.g.lr": 0.15, "optim.g.name": "sgd"})
    assert document["optim"]["g"] == {**spec.to_dict()["optim"]["g"], "lr": 0.15, "name": "sgd"}
    assert document["search"] is None
    ExperimentSpec(**document)


@pytest.mark.parametrize("search, message", [
    ({"space": {"optim.g.lrr": "uniform(0.1, 0.2)"}}, "'lrr' is not a spec key; valid keys here: name, lr"),
    ({"space": {"optimizer.lr": "uniform(0.1, 0.2)"}}, "'optimizer' is not a spec key"),
    ({"space": {"optim.g.name": "choice(adam, adagrad)"}}, "unknown optimizer 'adagrad'"),
    ({"space": {"optim.g.lr": "uniform(-1, 1)"}}, "optim.g.lr"),
    ({"space": {"search.metric": "choice(a)"}}, "cannot search itself"),
    ({"space": {}}, "search.space: a mapping"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "metric": "kid_mean"}, "not produced by eval.metrics"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "mode": "lowest"}, "search.mode: min or max"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "scheduler": "hyperband"}, "unknown scheduler 'hyperband'"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "num_samples": 0}, "search.num_samples"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "trials": 3}, "unknown key"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "resources": {"gpus": 1}}, "search.resources"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "truncation": [0, 1]}, "search.truncation"),
    ({"space": {"loss.name": "grid(hinge, wgan)"}, "scheduler": "pbt"}, "numeric dimension"),
    ({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "scheduler": {"name": "pbt", "seed": 0}},
     r"scheduler pbt: unknown option\(s\) \['seed'\]; valid: .*perturbation_interval"),
])
def test_clear_errors(search, message):
    with pytest.raises(SearchSpaceError, match=message):
        parse_search(make_spec(search))


def test_eval_metric_needs_eval_every_dividing_checkpoint_every():
    spec = make_spec({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}}, eval={**EVAL, "every": 7})
    with pytest.raises(SearchSpaceError, match="set eval.every: 10"):
        parse_search(spec)


@pytest.mark.parametrize("metric, eval_section, right_key", [
    ("fid", EVAL, "domain-digits.fid"),  # the Inception name for the digits classifier's number
    ("fid_best", {**EVAL, "extractor": "auto"}, "domain-digits.fid_best"),  # auto on digits: the classifier
    ("domain-digits.fid", {**EVAL, "extractor": "inception"}, "fid"),
])
def test_a_metric_named_for_another_network_fails_naming_the_right_key(metric, eval_section, right_key):
    spec = make_spec({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "metric": metric}, eval=eval_section)
    with pytest.raises(SearchSpaceError, match=f"write search.metric: {right_key}$"):
        parse_search(spec)


@pytest.mark.parametrize("metric, data, extractor", [
    ("domain-digits.fid_best", "digits", "domain:digits"),
    ("fid", "cifar10", "auto"),  # natural images: auto is the standard Inception (installed here)
    ("kid_mean", "digits", "inception"),
])
def test_metric_names_that_match_the_extractor_pass(monkeypatch, metric, data, extractor):
    from ganforge.metrics import extractor_auto

    monkeypatch.setattr(extractor_auto, "inception_available", lambda explicit=None: True)
    spec = make_spec({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "metric": metric}, data={"name": data},
                     eval={**EVAL, "metrics": ["fid", "kid"], "extractor": extractor})
    assert parse_search(spec).metric == metric


def test_loss_metric_needs_no_eval():
    spec = make_spec({"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "metric": "g_loss"}, eval={"every": 0})
    assert parse_search(spec).metric == "g_loss"


def test_missing_search_section():
    with pytest.raises(SearchSpaceError, match="no search: section"):
        parse_search(ExperimentSpec())


def test_schedulers_build():
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    from ganforge.tune.search import build_scheduler

    for name, cls in (("asha", ASHAScheduler), ("pbt", PopulationBasedTraining)):
        spec = make_spec({"space": {"optim.g.lr": "loguniform(1e-5, 1e-3)"}, "scheduler": name})
        assert isinstance(build_scheduler(parse_search(spec), spec), cls)
    spec = make_spec({"space": {"optim.g.lr": "loguniform(1e-5, 1e-3)"}, "scheduler": "none"})
    assert build_scheduler(parse_search(spec), spec) is None


def test_pbt_mutates_only_numeric_dimensions():
    from ganforge.tune.search import build_scheduler

    spec = make_spec({"space": {"optim.g.lr": "loguniform(1e-5, 1e-3)", "optim.g.name": "choice(adam, rmsprop)",
                                "train.seed": "choice(1, 2)"}, "scheduler": "pbt"})
    scheduler = build_scheduler(parse_search(spec), spec)
    assert set(scheduler._hyperparam_mutations) == {"optim.g.lr", "train.seed"}


def test_interval_metric_needs_log_every_dividing_checkpoint_every():
    search = {"space": {"optim.g.lr": "uniform(0.1, 0.2)"}, "metric": "lr_g", "mode": "max"}
    assert parse_search(make_spec(search, eval={"every": 0})).metric == "lr_g"
    with pytest.raises(SearchSpaceError, match="train.log_every divides"):
        parse_search(make_spec(search, train={"steps": 30, "checkpoint_every": 10, "log_every": 3}))
