"""Bad input is caught before Ray starts and before an MLflow run exists: one line naming the
problem and the fix, exit code 2, no traceback, nothing left behind."""
from __future__ import annotations

import subprocess

import pytest
from mlflow.tracking import MlflowClient

from clirun import GANFORGE, user_env
from conftest import REPO

pytestmark = pytest.mark.e2e

QUICKSTART = str(REPO / "jobs/quickstart.yaml")
CASES = {
    "missing folder": (["train", QUICKSTART, "--set", "data={name: folder, root: /no/such/dir}"], "/no/such/dir"),
    "unknown resume": (["train", QUICKSTART, "--resume", "0123456789abcdef0123456789abcdef"], "--resume"),
    "tune, missing folder": (["tune", str(REPO / "jobs/tune/quickstart.yaml"), "--set", "data.name=folder",
                              "--set", "data.root=/no/such/dir"], "/no/such/dir"),
    "malformed spec": (["train", "MALFORMED"], "MALFORMED"),
    "evaluate, unknown model": (["evaluate", "models:/no-such-model/latest"], "no-such-model"),
    "serve, unknown model": (["serve", "models:/no-such-model/1"], "no-such-model"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_before_ray(case, tmp_path):
    args, named = CASES[case]
    if "MALFORMED" in args:
        bad = tmp_path / "bad.yaml"
        bad.write_text("data: {name: digits\ntrain: [steps\n")
        args = [str(bad) if a == "MALFORMED" else a for a in args]
        named = "bad.yaml"
    env = user_env(tmp_path)
    result = subprocess.run([GANFORGE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and named in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Ray instance" not in result.stderr
    db = tmp_path / "mlflow.db"
    if db.exists():  # looking a run up may create the store; no run may be left in it
        client = MlflowClient(env["MLFLOW_TRACKING_URI"])
        assert not client.search_runs([e.experiment_id for e in client.search_experiments()])
