"""A one-worker Tune trial's session: what the loop reads from it and what reaches Tune."""
import pytest
import torch
from ray import tune

from ganforge.train.session import TuneSession

pytestmark = pytest.mark.unit


@pytest.fixture
def reports(monkeypatch):
    seen = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: seen.append((metrics, checkpoint)))
    return seen


@pytest.mark.parametrize("mode, worst", [("min", float("inf")), ("max", float("-inf"))])
def test_a_report_without_the_search_metric_gets_the_worst_value(reports, mode, worst):
    session = TuneSession("fid", mode)
    session.report({"step": 7, "status": "diverged"})
    session.report({"step": 10, "fid": 42.0})
    assert [metrics["fid"] for metrics, _ in reports] == [worst, 42.0]
    assert session.last == {"step": 10, "fid": 42.0}  # what the trial function reads: no filled-in value


def test_a_checkpoint_directory_reaches_tune_as_a_checkpoint(reports, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"x")
    TuneSession("fid", "min").report({"step": 4}, str(tmp_path))
    [(_, checkpoint)] = reports
    assert isinstance(checkpoint, tune.Checkpoint) and checkpoint.path == str(tmp_path)


def test_rank_zero_of_one_on_the_trials_own_device():
    session = TuneSession("fid", "min")
    assert (session.rank, session.world, session.checkpoint()) == (0, 1, None)
    loader = [torch.zeros(2)]
    assert session.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert session.prepare(loader) is loader or torch.cuda.is_available()
