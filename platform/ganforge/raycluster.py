"""The one way every ganforge command starts or joins Ray.

Several Ray instances may live on one machine (other ganforge commands, a user's ``ray start``,
CI). Three things keep ours from touching theirs, and theirs from touching ours:

- Every worker of the job pins RAY_ADDRESS to its own GCS (a ``worker_process_setup_hook``).
  Code inside Ray workers that looks the cluster up by itself, such as Train V2's
  PlacementGroupCleaner calling the State API, otherwise reads /tmp/ray/ray_current_cluster
  (written by the newest ``ray start``), does not find its Train controller in that other
  cluster, concludes it died and removes the live run's placement group (STACK-NOTES).
- A local instance has its dashboard (the State API that cleaner needs; without it, it prints
  "Failed to query Ray Train Controller actor state" every second) on a free port, and its
  dashboard agent on a port Ray picks: the fixed defaults (8265, 52365) belong to a user's
  ``ray start``, whose Jobs agent never comes up when another instance holds them.
- ``address="local"`` always starts a new instance: a bare ``ray.init()`` would join whatever
  cluster ``ray start`` last recorded here.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
from typing import Iterator

TRAIN_POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
# Train V2 starts a PreemptionWatcher actor per run to follow node drains on a cluster. A local
# instance is one node nobody drains: the actor is a process start (~1 s of CPU) for nothing.
PREEMPTION_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"
WORKER_ENV = {
    "NO_ALBUMENTATIONS_UPDATE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0",
    # Worker start-up (importing torch) can pass Train's 60 s default on a busy 2-core machine.
    "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "300",
    # Train's controller polls its workers every 2 s by default, and a reported checkpoint, like
    # the end of the run, waits for the next poll: 3-4 s of a short run (or a Tune trial) spent
    # idle. A poll is one cheap RPC per worker. Here so Tune trials (the drivers of their own
    # Train runs) get it; ``connect`` sets it for the command's own driver.
    TRAIN_POLL_ENV: "0.25",
    # A trial runs where the user started the search (relative paths in a spec, MLflow's default
    # ./mlruns artifact root), not in its Tune trial directory.
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
}


def pin_ray_address() -> None:
    """Worker setup hook: RAY_ADDRESS := this worker's own GCS address."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _submitted_job_env() -> dict[str, str]:
    """The env vars of the Ray job this driver runs in (``ganforge submit``), else {}. Ray merges
    a job's runtime env with ray.init's and refuses one variable set by both."""
    injected = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not injected:
        return {}
    return (json.loads(injected).get("runtime_env") or {}).get("env_vars") or {}


def job_runtime_env(extra_env: dict[str, str] | None = None) -> dict:
    """The runtime env every ganforge job gets: the address pin and the quiet environment
    (minus what a submitted job's own runtime env already sets)."""
    env = {key: os.environ.get(key, value) for key, value in WORKER_ENV.items()}
    env.update(extra_env or {})
    already = _submitted_job_env()
    return {"worker_process_setup_hook": f"{__name__}.pin_ray_address",
            "env_vars": {key: value for key, value in env.items() if key not in already}}


@contextlib.contextmanager
def _agent_port_chosen_by_ray() -> Iterator[None]:
    """ray.init(address="local") gives no way to set the dashboard agent's port and defaults it to
    52365; with 0 Ray picks a free one (as it does for the metrics ports)."""
    from ray._private import parameter

    original = parameter.RayParams.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("dashboard_agent_listen_port", 0)
        original(self, *args, **kwargs)

    parameter.RayParams.__init__ = init
    try:
        yield
    finally:
        parameter.RayParams.__init__ = original


def resolve_address(address: str | None) -> str | None:
    """``--address``, else RAY_ADDRESS; None (or "local") means a new local instance."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    return None if address in (None, "local") else address


def connect(address: str | None = None, *, num_cpus: int | None = None, verbose: bool = False,
            extra_env: dict[str, str] | None = None) -> bool:
    """Join ``address`` (or RAY_ADDRESS), or start a local instance; True if this call started Ray.

    ``verbose``: forward the workers' own output to this console (otherwise it stays in Ray's
    session logs, and ganforge's progress reaches the console through its own channel).
    """
    import ray

    from ganforge.console import say

    os.environ.setdefault(TRAIN_POLL_ENV, WORKER_ENV[TRAIN_POLL_ENV])  # Train copies it from the driver
    if ray.is_initialized():
        return False
    address = resolve_address(address)
    common = dict(log_to_driver=verbose, configure_logging=False, runtime_env=job_runtime_env(extra_env))
    if address:
        say(f"connecting to the Ray cluster at {address}")
        ray.init(address=address, **common)
        return False
    say("starting a local Ray instance (about 5 s)")
    os.environ.setdefault(PREEMPTION_ENV, "0")
    common["runtime_env"] = job_runtime_env({PREEMPTION_ENV: os.environ[PREEMPTION_ENV], **(extra_env or {})})
    with _agent_port_chosen_by_ray():
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1",
                 dashboard_port=free_port(), **common)
    return True


@contextlib.contextmanager
def ray_session(address: str | None = None, **options) -> Iterator[bool]:
    """``connect`` for the duration of a command; shuts down only an instance it started."""
    import ray

    started = connect(address, **options)
    try:
        yield started
    finally:
        if started:
            ray.shutdown()


def session_logs_dir() -> str | None:
    """Where Ray keeps this session's process logs (workers' output when not verbose)."""
    import ray

    try:
        node = ray._private.worker.global_worker.node
        return os.path.join(node.get_session_dir_path(), "logs")
    except Exception:  # joined a remote cluster through Ray Client, or not connected
        return None
