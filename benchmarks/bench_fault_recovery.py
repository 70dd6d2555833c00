"""Time lost to a worker failure against the checkpoint interval.

For each ``train.checkpoint_every`` it runs a 2-worker ganforge training run on a local Ray
instance with ``train.max_failures=1``, SIGKILLs one training worker half-way through a
checkpoint interval, and reads the MLflow metric history (``log_every=1``, one entry per step
with its wall-clock timestamp) to measure:

- steps redone: the last step logged before the kill minus the checkpoint restored from;
- restart: kill -> first step logged after the restore (worker group torn down, new workers,
  process group, data, checkpoint load);
- lost: kill -> first step beyond the last one logged before the kill (restart + redone steps);
- the step time before the kill, so ``lost`` can be read in steps.

The worker is found among this process's own descendants (``ray::RayTrainWorker`` processes of
the Ray instance this script started), never by name machine-wide.

    .venv/bin/python benchmarks/bench_fault_recovery.py [--intervals 10 25 50] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

REPO = Path(__file__).resolve().parents[1]


def descendants(root: int) -> dict[int, str]:
    """pid -> command line of every process below ``root`` (read from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                try:
                    found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    found[pid] = ""
                frontier.append(pid)
    return found


def train_worker_pids() -> list[int]:
    return sorted(pid for pid, cmd in descendants(os.getpid()).items() if cmd.startswith("ray::RayTrainWorker"))


def step_history(client, experiment: str) -> list:
    """(timestamp s, step) of the run's per-step metric, in logging order."""
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id]) if found else []
    if not runs:
        return []
    history = client.get_metric_history(runs[0].info.run_id, "images_per_s")
    return sorted((m.timestamp / 1000, m.step) for m in history)


def killer(client, experiment: str, interval: int, record: dict, stop: threading.Event) -> None:
    """Kill one worker once the run is half-way through its second checkpoint interval."""
    while not stop.is_set():
        history = step_history(client, experiment)
        step = history[-1][1] if history else 0
        if step >= interval + interval // 2 and step % interval >= interval // 2:
            pids = train_worker_pids()
            if pids:
                os.kill(pids[-1], signal.SIGKILL)
                record.update(kill_time=time.time(), kill_step=step, pid=pids[-1])
                return
        time.sleep(0.2)


def measure(interval: int, workers: int, root: Path, tracking_uri: str) -> dict:
    from mlflow.tracking import MlflowClient

    from ganforge.config import load_spec
    from ganforge.train.driver import run_training

    experiment = f"bench-fault-{interval}-{uuid.uuid4().hex[:6]}"
    steps = 2 * interval + 20
    spec = load_spec(str(REPO / "jobs" / "quickstart.yaml"), [
        f"train.steps={steps}", f"train.checkpoint_every={interval}", "train.log_every=1", "train.sample_every=0",
        "train.max_failures=1", "train.torch_threads=1", f"scaling.workers={workers}",
        f"scaling.storage_path={root / 'ray'}", f"tracking.experiment={experiment}", "tracking.registered_model=null"])
    client = MlflowClient(tracking_uri)
    record: dict = {}
    stop = threading.Event()
    thread = threading.Thread(target=killer, args=(client, experiment, interval, record, stop), daemon=True)
    thread.start()
    started = time.time()
    run_training(spec)
    stop.set()
    total = time.time() - started
    if "kill_time" not in record:
        raise RuntimeError(f"interval {interval}: the run ended before the kill")
    history = step_history(client, experiment)
    before = [(t, s) for t, s in history if t <= record["kill_time"]]
    after = [(t, s) for t, s in history if t > record["kill_time"]]
    last_before = before[-1][1]
    restored_from = after[0][1] - 1
    first_new = next(t for t, s in after if s > last_before)
    # Mean step time before the kill (MLflow keeps millisecond timestamps; single gaps can be 0).
    step_s = (before[-1][0] - before[0][0]) / max(1, before[-1][1] - before[0][1])
    return {"interval": interval, "killed_at": last_before, "restored_from": restored_from,
            "redone": last_before - restored_from, "restart_s": after[0][0] - record["kill_time"],
            "lost_s": first_new - record["kill_time"], "step_s": step_s, "total_s": total,
            "final_step": history[-1][1], "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--intervals", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import ray

    from ganforge.raycluster import connect

    connect(None, num_cpus=args.workers + 2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="gf-bench-fault-") as tmp:
        root = Path(tmp)
        tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri
        for interval in args.intervals:
            row = measure(interval, args.workers, root, tracking_uri)
            rows.append(row)
            print(f"checkpoint_every={interval}: {row}", file=sys.stderr, flush=True)
    ray.shutdown()
    print(f"\n{args.workers} workers, 1 failure each (SIGKILL half-way through the 2nd checkpoint interval)")
    print(f"{'ckpt_every':>10} {'killed@':>8} {'restored':>8} {'redone':>6} {'restart s':>9} {'lost s':>7} "
          f"{'step s':>7} {'lost/step':>9} {'final':>6}")
    for r in rows:
        print(f"{r['interval']:>10} {r['killed_at']:>8} {r['restored_from']:>8} {r['redone']:>6} {r['restart_s']:>9.1f} "
              f"{r['lost_s']:>7.1f} {r['step_s']:>7.3f} {r['lost_s'] / max(r['step_s'], 1e-3):>9.0f} {r['final_step']:>4}/{r['steps']}")
    fixed = [r["restart_s"] for r in rows]
    ratios = ", ".join(f"{r['redone'] / r['interval']:.2f}" for r in rows)
    print(f"\nrestart cost: {min(fixed):.1f}-{max(fixed):.1f} s per failure; redone steps / interval: {ratios}")


if __name__ == "__main__":
    main()
