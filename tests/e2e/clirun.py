"""Running `ganforge` as a user does, in the background: start, wait for a line, stop by PID."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GANFORGE = str(Path(sys.executable).with_name("ganforge"))


class Background:
    """A command running with its stdout/stderr in files (not a terminal, as in CI or `> log`)."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], name: str):
        self.out, self.err = cwd / f"{name}.out", cwd / f"{name}.err"
        self.process = subprocess.Popen(args, cwd=cwd, env=env, stdout=open(self.out, "w"),
                                        stderr=open(self.err, "w"), start_new_session=True)

    def stderr(self) -> str:
        return self.err.read_text()

    def stdout(self) -> str:
        return self.out.read_text()

    def wait_for(self, text: str, timeout: float) -> None:
        """Until ``text`` is in stderr; fails if the command ends first or time runs out."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.stderr():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"ended (rc {self.process.returncode}) before {text!r}:\n{self.stderr()[-3000:]}")
            time.sleep(0.5)
        raise AssertionError(f"no {text!r} within {timeout} s:\n{self.stderr()[-3000:]}")

    def finish(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self.stop()

    def stop(self) -> None:
        """The process group we started, and only it."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


def user_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a person at a shell: no RAY_ADDRESS, MLflow in tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}", GANFORGE_LOG_DIR=str(tmp_path / "logs"))
    env.update(extra)
    return env
