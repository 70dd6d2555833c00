"""Real statistics are computed once per key and then read back (asserted on extractor calls)."""
from __future__ import annotations

import pytest
import torch
from test_metrics_helpers import DIGITS_DATA, TinyGenerator, digits, classifier_cache, offline, spec_for  # noqa: F401

from ganforge.metrics import evaluate_generator
from ganforge.metrics.evaluation import Evaluator
from ganforge.metrics.real_stats import forget_in_memory, real_statistics

pytestmark = pytest.mark.unit
N, BATCH = 300, 100  # 3 real batches and 3 generated batches per evaluation


def test_second_evaluation_reads_real_statistics_instead_of_recomputing(offline, digits):
    spec = spec_for(["fid", "kid"], N, extractor="domain:digits", batch_size=BATCH)
    evaluator = Evaluator.from_spec(spec, dataset=digits)
    calls = evaluator.extractor.calls
    evaluator(TinyGenerator())
    assert evaluator.extractor.calls - calls == 3 + 3  # real + generated
    assert len(list((offline / "real-stats").glob("*.npz"))) == 1

    calls = evaluator.extractor.calls
    evaluator(TinyGenerator())  # in-process memory
    assert evaluator.extractor.calls - calls == 3

    forget_in_memory()  # a new process: only the disk cache is left
    calls = evaluator.extractor.calls
    values = evaluate_generator(TinyGenerator(), spec, dataset=digits)
    assert evaluator.extractor.calls - calls == 3
    key = "domain-digits.fid"
    assert values[key] == pytest.approx(evaluator(TinyGenerator())[key], rel=1e-12)


def test_disk_cache_gives_the_same_statistics(offline, digits):
    evaluator = Evaluator.from_spec(spec_for(["fid"], N, "domain:digits", BATCH), dataset=digits)
    fresh = real_statistics(digits, evaluator.extractor, N, data=DIGITS_DATA)
    forget_in_memory()
    cached = real_statistics(digits, evaluator.extractor, N, data=DIGITS_DATA)
    assert torch.equal(fresh.features, cached.features) and fresh.key == cached.key
    assert (fresh.sigma == cached.sigma).all() and (fresh.mu == cached.mu).all()


def test_key_changes_with_n_data_and_content(offline, digits):
    extractor = Evaluator.from_spec(spec_for(["fid"], N, "domain:digits", BATCH), dataset=digits).extractor
    keys = {real_statistics(digits, extractor, N, data=DIGITS_DATA).key,
            real_statistics(digits, extractor, N + 1, data=DIGITS_DATA).key,
            real_statistics(digits, extractor, N, data={**DIGITS_DATA, "resolution": 64}).key}
    changed = type(digits)()
    changed.images = changed.images.flip(-1)  # same spec, different pixels
    keys.add(real_statistics(changed, extractor, N, data=DIGITS_DATA).key)
    assert len(keys) == 4


def test_refresh_recomputes(offline, digits):
    extractor = Evaluator.from_spec(spec_for(["fid"], N, "domain:digits", BATCH), dataset=digits).extractor
    real_statistics(digits, extractor, N, data=DIGITS_DATA)
    calls = extractor.calls
    real_statistics(digits, extractor, N, data=DIGITS_DATA, refresh=True)
    assert extractor.calls - calls == 3
