"""Training progress, from rank 0 to the console of the command that started the run.

Ray forwards a worker's stdout to the driver with a "(RayTrainWorker pid=...)" prefix and
redraws nothing, so a bar drawn in the worker is unreadable. Rank 0 instead pushes small
records to a ``ProgressSink`` actor the driver created; the driver draws them: one tqdm bar in
a terminal, one plain line per ``train.log_every`` steps otherwise (CI, ``> log``).
A Tune trial passes no sink: its progress is Tune's table.
"""
from __future__ import annotations

import sys
import threading
import time

import ray

TICK_SECONDS = 0.5  # rank 0 sends at most this often between log intervals (cheap: no wait)


@ray.remote(num_cpus=0)
class ProgressSink:
    """Holds the records rank 0 pushed until the driver drains them."""

    def __init__(self):
        self.records: list[dict] = []

    def push(self, record: dict) -> None:
        self.records.append(record)

    def drain(self) -> list[dict]:
        records, self.records = self.records, []
        return records


class ProgressClient:
    """Rank 0's side: fire-and-forget pushes, throttled between log intervals."""

    def __init__(self, sink):
        self.sink = sink
        self.last_tick = 0.0

    def tick(self, step: int) -> None:
        now = time.monotonic()
        if self.sink is not None and now - self.last_tick >= TICK_SECONDS:
            self.last_tick = now
            self.sink.push.remote({"kind": "tick", "step": step})

    def interval(self, step: int, losses: dict[str, float], images_per_s: float) -> None:
        if self.sink is not None:
            self.last_tick = time.monotonic()
            self.sink.push.remote({"kind": "interval", "step": step, "losses": losses, "images_per_s": images_per_s})


class PhaseClock:
    """Wall time per phase of the worker loop (data, step, rank0, report, other), summed between
    ``drain`` calls; one ``perf_counter`` per lap. On a GPU "step" is the time to queue the
    step's work (the host does not wait for it), the wait shows where the host next reads."""

    def __init__(self):
        self.last = time.perf_counter()
        self.totals: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        """Charge the time since the previous lap to ``phase``."""
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - self.last
        self.last = now

    def drain(self, steps: int) -> dict[str, float]:
        """``time_<phase>_ms``: milliseconds per step over the last ``steps`` steps; resets."""
        totals, self.totals = self.totals, {}
        return {f"time_{phase}_ms": 1000 * total / max(steps, 1) for phase, total in totals.items()}


def format_interval(record: dict, total: int) -> str:
    """``step 250/1500 d_loss=0.61 g_loss=1.92 1830 img/s``."""
    losses = " ".join(f"{key}={value:.3f}" for key, value in record["losses"].items())
    return f"step {record['step']}/{total} {losses} {record['images_per_s']:.0f} img/s"


class ProgressPrinter:
    """The driver's side: drains the sink in a thread and draws the bar or the plain lines."""

    def __init__(self, sink, total: int, start: int, terminal: bool):
        self.sink, self.total, self.terminal = sink, total, terminal
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ganforge-progress", daemon=True)
        self.bar = None
        self.first: tuple[float, int] | None = None  # (time, step) of the first record: start-up excluded
        if terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc="training", unit="step", file=sys.stderr,
                            dynamic_ncols=True)

    def __enter__(self) -> "ProgressPrinter":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        self._drain()  # what arrived after the last poll
        if self.bar is not None:
            self.bar.close()

    def _run(self) -> None:
        while not self.stop_event.wait(TICK_SECONDS):
            self._drain()

    def _drain(self) -> None:
        try:
            records = ray.get(self.sink.drain.remote(), timeout=10)
        except Exception:  # the sink died with its node; the run's own outcome says what happened
            return
        for record in records:
            self._show(record)

    def _eta(self, step: int) -> str:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, step)
            return "?"
        elapsed, done = now - self.first[0], step - self.first[1]
        if done <= 0:
            return "?"
        return time.strftime("%H:%M:%S", time.gmtime(elapsed / done * (self.total - step)))

    def _show(self, record: dict) -> None:
        step = record["step"]
        if self.bar is None:
            if record["kind"] == "interval":
                print(f"[ganforge] {format_interval(record, self.total)} ETA {self._eta(step)}",
                      file=sys.stderr, flush=True)
            return
        self.bar.update(step - self.bar.n)
        if record["kind"] == "interval":
            losses = " ".join(f"{k}={v:.3f}" for k, v in record["losses"].items())
            self.bar.set_postfix_str(f"{losses} {record['images_per_s']:.0f} img/s")
