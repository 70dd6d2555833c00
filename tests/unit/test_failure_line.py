"""The one line a failed run ends with: the cause in a few words and how to continue."""
from __future__ import annotations

import pytest
from ray.exceptions import ActorDiedError
from ray.train import WorkerGroupError

from ganforge.train import failure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("error, cause", [
    (WorkerGroupError("rank 0 died", {0: ActorDiedError()}), "a training worker process died"),
    (RuntimeError("Placement group is removed before it is created"), "placement group was removed"),
    (RuntimeError("Task was killed due to the node running low on memory. OutOfMemoryError"), "out of memory"),
    (WorkerGroupError("boom", {0: ValueError("bad shape [3, 4]")}), "ValueError in the training loop: bad shape [3, 4]"),
])
def test_cause_in_a_few_words(error, cause):
    assert cause in failure.describe(error)


def test_a_cause_found_in_the_chain():
    try:
        try:
            raise ActorDiedError()
        except ActorDiedError as inner:
            raise RuntimeError("fit failed") from inner
    except RuntimeError as outer:
        assert failure.describe(outer) == "a training worker process died"


def test_continue_hint_names_the_step_and_the_command():
    command = "ganforge train jobs/quickstart.yaml --resume abc"
    assert failure.continue_hint(250, command) == f"Last checkpoint: step 250. Continue with: {command}"
    assert "from step 0 in the same MLflow run" in failure.continue_hint(None, command)
