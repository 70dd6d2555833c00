"""A Ray Train worker imports the training loop in a fresh process for every run: what that import
pulls in is paid once per worker, per trial, per restart. Evaluation's libraries load when a
metric is first looked up, not before."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

HEAVY = ("torch_fidelity", "torchvision")


def test_the_training_loop_imports_no_evaluation_library():
    probe = ("import sys, ganforge.train.loop, ganforge.tasks, ganforge.losses, ganforge.metrics; "
             f"print([m for m in {HEAVY!r} if m in sys.modules])")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]", f"imported at start-up: {loaded}"


def test_registries_fill_themselves_on_first_lookup():
    from ganforge.metrics import EXTRACTORS, METRICS

    assert {"fid", "kid", "is"} <= set(METRICS.names()) and "domain" in EXTRACTORS
