"""What a monitor is, and ``MonitorSet``: run the monitors at a check, raise their alarms.

A monitor is a class registered in ``MONITORS`` with ``phase`` ("log": every log interval, cheap;
"eval": at evaluation steps, where the extractor and real features are already loaded) and
``check(probe, options) -> (metrics, message or None)``. ``options`` is the spec's ``monitors``
section. An alarm fires once per monitor per run (its condition usually persists): one printed
line, the metric ``alarm.<name>`` = 1 and the tag ``ganforge.alarm.<name>`` ("step N: ...").
Before ``alarm_start`` no alarm fires (metrics are logged): an untrained or barely averaged EMA
generator has no diversity and its FID wanders, which is no collapse or divergence.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

ALARM_TAG = "ganforge.alarm."
STOPPED_TAG = "ganforge.stopped_by"  # "<monitor> at step N": the run stopped on train.stop_on


@dataclass
class Alarm:
    """One fired alarm."""

    monitor: str
    step: int
    message: str

    def line(self) -> str:
        """The one line printed for it."""
        return f"[ganforge] ALARM {self.monitor} at step {self.step}: {self.message}"


def alarm_start(spec) -> int:
    """The first step alarms may fire at: ``monitors.after``, else the later of 25% of the run and
    the EMA generator's horizon (``ema_start + 1 / (1 - ema)`` steps)."""
    if spec.monitors.after is not None:
        return spec.monitors.after
    horizon = spec.train.ema_start + round(1 / (1 - spec.train.ema)) if spec.train.ema > 0 else 0
    return max(spec.train.steps // 4, horizon)


class MonitorSet:
    """The enabled monitors of a run (rank 0), their alarms and the stop decision."""

    def __init__(self, options, stop_on: list[str], client=None, run_id: str | None = None, printer=print,
                 start: int = 0):
        from ganforge.train.monitors import MONITORS

        self.options, self.stop_on, self.start = options, set(stop_on), start
        self.monitors = {name: cls() for name, cls in MONITORS.items()} if options.enabled else {}
        self.client, self.run_id, self.printer = client, run_id, printer
        self.fired: dict[str, Alarm] = {}
        self.seconds = 0.0  # time spent in checks (the benchmark reports its share of training)
        self.stop: Alarm | None = None

    @classmethod
    def from_spec(cls, spec, client=None, run_id: str | None = None, printer=print) -> "MonitorSet":
        """The spec's monitors (``monitors``), stop list (``train.stop_on``) and alarm start."""
        return cls(spec.monitors, spec.train.stop_on, client, run_id, printer, alarm_start(spec))

    def check(self, phase: str, step: int, probe) -> dict[str, float]:
        """Run the monitors of ``phase``; returns their metrics (alarms are raised here)."""
        start = time.perf_counter()
        metrics: dict[str, float] = {}
        for name, monitor in self.monitors.items():
            if monitor.phase != phase:
                continue
            values, message = monitor.check(probe, self.options)
            metrics.update(values)
            if message and step >= self.start and name not in self.fired:
                self._raise(Alarm(name, step, message))
        if metrics and self.client is not None:
            from ganforge import tracking

            tracking.log_metrics(self.client, self.run_id, metrics, step)
        self.seconds += time.perf_counter() - start
        return metrics

    def _raise(self, alarm: Alarm) -> None:
        self.fired[alarm.monitor] = alarm
        self.printer(alarm.line())
        if self.client is not None:
            from ganforge import tracking

            tracking.log_metrics(self.client, self.run_id, {f"alarm.{alarm.monitor}": 1.0}, alarm.step)
            self.client.set_tag(self.run_id, ALARM_TAG + alarm.monitor, f"step {alarm.step}: {alarm.message}"[:5000])
        if alarm.monitor in self.stop_on and self.stop is None:
            self.stop = alarm
            if self.client is not None:
                self.client.set_tag(self.run_id, STOPPED_TAG, f"{alarm.monitor} at step {alarm.step}")


def agree_to_stop(stop: bool, world: int, device="cpu") -> bool:
    """Rank 0's stop decision, made every rank's (a MAX all-reduce; every rank calls this at the
    same steps), so all ranks leave the loop together."""
    if world == 1:
        return stop
    flag = torch.tensor([1.0 if stop else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())
