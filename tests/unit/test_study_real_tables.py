"""The real-data tables a study asks for: the Inception-score sample-size table (n x splits,
mean ± std of IS over the splits) from the project's IS, on a tiny fake extractor."""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.unit


def confident(labels: list[int], classes: int = 4) -> torch.Tensor:
    """Logits that put (almost) all probability on each row's label."""
    return torch.nn.functional.one_hot(torch.tensor(labels), classes).float() * 30.0


def test_each_n_scores_the_first_n_images_with_each_split_count():
    """The first 256 rows all say class 0 (IS 1: no variety); the rest spread over 4 classes.
    The n=256 row must be exactly 1, the full set's close to 4 (its most)."""
    from ganforge.study.real_tables import is_sample_size_table

    logits = confident([0] * 256 + [i % 4 for i in range(256, 1024)])
    table = is_sample_size_table(logits, seed=0)
    values = {(v["n"], v["splits"]): (v["mean"], v["std"]) for v in table["values"]}
    assert set(values) == {(n, k) for n in (256, 512, 1024) for k in (5, 10)}
    assert values[(256, 5)] == pytest.approx((1.0, 0.0), abs=1e-4)
    assert values[(256, 10)] == pytest.approx((1.0, 0.0), abs=1e-4)
    assert 1.5 < values[(512, 10)][0] < values[(1024, 10)][0] < 4.0 + 1e-4
    assert values[(1024, 10)][1] > values[(1024, 5)][1] >= 0  # smaller splits: noisier estimates
    assert table["header"] == ["n", "IS, 5 splits", "IS, 10 splits"]
    assert table["rows"][0] == ["256", "1.000 ± 0.000", "1.000 ± 0.000"]


def test_the_scores_are_the_projects_inception_score():
    from ganforge.metrics.base import MetricInputs
    from ganforge.metrics.inception_score import inception_score
    from ganforge.study.real_tables import is_sample_size_table

    logits = torch.randn(300, 5, generator=torch.Generator().manual_seed(1)) * 3
    (value,) = is_sample_size_table(logits, sizes=(300,), splits=(5,), seed=3)["values"]
    expected = inception_score(MetricInputs(fake={"logits": logits}, real=None, seed=3, options={"is_splits": 5}))
    assert (value["mean"], value["std"]) == (expected["is_mean"], expected["is_std"])


class FakeExtractor:
    """Logits from the image itself: an image whose pixels all equal c says class c."""

    name = "fake"
    has_logits = True
    no_logits_hint = ""

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": confident(images.flatten(1)[:, 0].round().long().tolist())}


def fake_data(monkeypatch, extractor, count: int):
    import ganforge.metrics.extractor as extractor_module
    import ganforge.metrics.realdata as realdata

    dataset = [(torch.full((1, 4, 4), float(i % 4)), 0) for i in range(count)]
    monkeypatch.setattr(realdata, "build_real_dataset", lambda spec: dataset)
    monkeypatch.setattr(extractor_module, "resolve_extractor", lambda text, context: extractor)


def spec():
    from ganforge.config import spec_from_dict

    return spec_from_dict({"data": {"name": "digits", "resolution": 16},
                           "eval": {"metrics": ["is"], "extractor": "domain:digits", "batch_size": 64}})


def test_the_registered_table_runs_on_the_specs_data_and_extractor(monkeypatch):
    """300 real images: only n=256 fits; every image goes through the extractor once."""
    from ganforge.study.real_tables import REAL_TABLES

    fake_data(monkeypatch, FakeExtractor(), 300)
    table = REAL_TABLES.get("is_sample_size").compute(spec(), 0)
    assert [row[0] for row in table["rows"]] == ["256"] and table["images"] == 300
    assert table["values"][0]["mean"] == pytest.approx(4.0, rel=0.05)  # 4 classes evenly
    assert "digits" in table["title"] and "fake logits" in table["title"]


def test_an_extractor_without_logits_is_one_clear_line(monkeypatch):
    from ganforge.study.real_tables import REAL_TABLES

    extractor = FakeExtractor()
    extractor.has_logits, extractor.no_logits_hint = False, "point GANFORGE_X at the weights"
    fake_data(monkeypatch, extractor, 10)
    with pytest.raises(ValueError, match="extractor 'fake' has no class logits; point GANFORGE_X at the weights"):
        REAL_TABLES.get("is_sample_size").compute(spec(), 0)
