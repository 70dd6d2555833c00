"""The one Ray start-up: a local instance leaves Ray's fixed ports to a user's `ray start`, and every
worker of the job finds its own cluster (not whichever one /tmp/ray/ray_current_cluster names)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_local_instance_keeps_off_the_default_ports(ray_session):
    import ray

    node = ray._private.worker.global_worker.node
    assert node.dashboard_agent_listen_port != 52365
    assert node.address_info["webui_url"] and not node.address_info["webui_url"].endswith(":8265")


def test_workers_pin_their_own_gcs(ray_session):
    import os

    import ray

    @ray.remote(num_cpus=0)
    def worker_address():
        return os.environ.get("RAY_ADDRESS")

    assert ray.get(worker_address.remote()) == ray_session


def test_a_local_instance_runs_no_preemption_watcher(ray_session):
    """One node that nobody drains: Train's per-run PreemptionWatcher actor is switched off for the
    job's workers (Tune trials start Train runs too) and for this driver."""
    import os

    import ray

    @ray.remote(num_cpus=0)
    def watcher_setting():
        return os.environ.get("RAY_TRAIN_ENABLE_PREEMPTION_WATCHER")

    assert ray.get(watcher_setting.remote()) == "0" == os.environ["RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"]


def test_inside_a_submitted_job_the_jobs_own_variables_are_not_set_twice(monkeypatch):
    """Ray refuses to merge a job's runtime env with ray.init's when both set one variable."""
    import json

    from ganforge.raycluster import job_runtime_env

    job = {"runtime_env": {"working_dir": "gcs://x.zip", "env_vars": {"NO_ALBUMENTATIONS_UPDATE": "1"}}}
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", json.dumps(job))
    env = job_runtime_env()
    assert "NO_ALBUMENTATIONS_UPDATE" not in env["env_vars"] and "RAY_USAGE_STATS_ENABLED" in env["env_vars"]
    assert env["worker_process_setup_hook"].endswith("pin_ray_address")
