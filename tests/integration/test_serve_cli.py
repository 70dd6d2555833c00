"""``ganforge serve`` as a user types it: it prints the URL, serves, and stops on Ctrl-C (SIGINT)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GANFORGE = [sys.executable, "-m", "ganforge.cli"]


def test_unknown_source_is_a_clean_user_error():
    result = subprocess.run([*GANFORGE, "serve", "no/such/dir"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no/such/dir" in result.stderr and "models:/name/version" in result.stderr and "Traceback" not in result.stderr


def test_serve_prints_the_url_serves_and_stops_on_ctrl_c(ray_session, tmp_path):
    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    spec = ExperimentSpec(name="cli", data={"name": "digits"}, model={"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}})
    generator, _ = build_models(spec.model, (1, 32, 32), 0)
    meta = {"img_shape": [1, 32, 32], "num_classes": 0}
    checkpoint = atomic_save(generator_state(generator, spec.to_dict(), meta, step=1), tmp_path / "gen" / GENERATOR_FILE).parent
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RAY_ADDRESS": ray_session, "PYTHONUNBUFFERED": "1"}  # join the session's Ray instead of starting one
    process = subprocess.Popen([*GANFORGE, "serve", str(checkpoint), "--port", str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.time() + 240
        while time.time() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
            if line.startswith("serving at"):
                break
        assert any(f"serving at http://127.0.0.1:{port}/" in line for line in lines), "".join(lines)[-3000:]
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=30).json()["models"] == ["gen"]
        response = requests.post(f"http://127.0.0.1:{port}/v1/generate", json={"seed": 1}, timeout=60)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
