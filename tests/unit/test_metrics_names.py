"""Metric names say their network: plain keys for the standard Inception, a tag for any other."""
from __future__ import annotations

import copy

import pytest
from mlflow.utils.validation import _validate_metric_name
from test_metrics_helpers import TinyGenerator, digits, classifier_cache, offline, spec_for  # noqa: F401

from ganforge.config import ExperimentSpec
from ganforge.metrics import EXTRACTORS, BestTracker, Evaluator
from ganforge.metrics.evaluation import planned_keys
from ganforge.metrics.extractor import ExtractorContext, planned_metric_tag, resolve_extractor

pytestmark = pytest.mark.unit


def test_only_the_standard_inception_keeps_the_plain_names(offline, digits, monkeypatch):
    domain = EXTRACTORS.get("domain")

    def standard(argument, context):  # the digits classifier's numbers, declared the standard network
        extractor = copy.copy(domain("digits", context))
        extractor.standard = True
        return extractor

    monkeypatch.setitem(EXTRACTORS._entries, "standard", standard)
    tagged = Evaluator.from_spec(spec_for(["fid", "kid"], 100, "domain:digits"), dataset=digits,
                                 options={"kid_subsets": 5, "kid_subset_size": 50})
    plain = Evaluator.from_spec(spec_for(["fid", "kid"], 100, "standard"), dataset=digits,
                                options={"kid_subsets": 5, "kid_subset_size": 50})
    tagged_values, plain_values = tagged(TinyGenerator(), best=BestTracker()), plain(TinyGenerator(), best=BestTracker())
    assert set(tagged_values) == {"domain-digits.fid", "domain-digits.kid_mean", "domain-digits.kid_std",
                                  "domain-digits.fid_best", "domain-digits.kid_mean_best"}
    assert set(plain_values) == {"fid", "kid_mean", "kid_std", "fid_best", "kid_mean_best"}
    assert plain_values["fid"] == tagged_values["domain-digits.fid"]  # same network, only the name differs
    assert set(tagged.keys) == set(tagged_values) and set(plain.keys) == set(plain_values)


def test_planned_tag_is_the_built_extractors_tag(offline, digits):
    context = ExtractorContext(data_spec=spec_for([], 2).data, dataset=digits)
    for text in ("domain:digits", "domain", "auto"):
        assert planned_metric_tag(text, context) == resolve_extractor(text, context).metric_tag == "domain-digits"
    assert planned_metric_tag("inception") is None and planned_metric_tag("inception:port") is None
    assert planned_metric_tag("clip") == "clip"


@pytest.mark.parametrize("data, extractor", [("digits", "auto"), ("fashion-mnist", "auto"), ("cifar10", "domain"),
                                             ("digits", "clip"), ("cifar10", "inception")])
def test_every_planned_key_is_a_valid_mlflow_key_that_ray_tune_keeps_whole(data, extractor):
    spec = ExperimentSpec(data={"name": data}, eval={"metrics": ["fid", "kid", "prc", "mifid", "kmmd", "is"],
                                                     "extractor": extractor})
    for key in planned_keys(spec):
        _validate_metric_name(key)  # raises on characters MLflow refuses (e.g. '@')
        assert "/" not in key  # Ray Tune's delimiter for nested results
