"""Connecting a search to Ray so that its workers find *their* cluster.

On a machine running several Ray instances (shared dev boxes, CI), code inside Ray workers that
looks the cluster up by itself, such as Train V2's PlacementGroupCleaner calling the State API,
reads /tmp/ray/ray_current_cluster and may reach another instance; there it does not find the
Train controller, concludes it died and removes the live run's placement group (seen here as
"worker group startup timed out" and "Placement group is removed before it is created"). A
worker setup hook pins RAY_ADDRESS in every worker of the search's job to the GCS it belongs to.
"""
from __future__ import annotations

import os

WORKER_ENV = {
    "NO_ALBUMENTATIONS_UPDATE": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_USAGE_STATS_ENABLED": "0",
    # Worker start-up (importing torch) can pass Train's 60 s default on a busy 2-core machine.
    "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "300",
}


def pin_ray_address() -> None:
    """Worker setup hook: RAY_ADDRESS := this worker's own GCS address."""
    import ray

    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address


def connect(address: str | None) -> bool:
    """Connect to ``address`` (or RAY_ADDRESS) or start a local instance, with the setup hook and
    worker environment above as the job's runtime env. True if this call started Ray."""
    import ray

    from ganforge.train.driver import say

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    say(f"connecting to the Ray cluster at {address}" if address else "starting a local Ray instance (about 5 s)")
    # "local", not None: None joins whatever cluster `ray start` last recorded on this machine.
    # The dashboard serves the State API, which Train's PlacementGroupCleaner needs to free the
    # placement group of a trial Tune stopped early (without it, 2 cores fill with leaked groups).
    ray.init(address=address or "local", include_dashboard=True if not address else None, log_to_driver=True,
             runtime_env={"worker_process_setup_hook": f"{__name__}.pin_ray_address",
                          "env_vars": {k: os.environ.get(k, v) for k, v in WORKER_ENV.items()}})
    return not address
