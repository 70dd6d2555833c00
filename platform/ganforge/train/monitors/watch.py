"""Rank 0's watch over a training run: the monitors, ADA's logged state and the best generator.

``Rank0Reporter`` holds one ``Watch`` and calls it at log intervals (``on_log``) and after each
evaluation (``on_eval``); the loop asks ``stop`` at the steps ``check_due`` names (the same on
every rank) and stops all ranks together. At the end ``registered_file`` is the generator to
register: the best evaluated one when there was an evaluation, else the last.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

from ganforge.augment.ada_control import SignMeter
from ganforge.train.monitors.base import Alarm, MonitorSet
from ganforge.train.monitors.best import BestKeeper
from ganforge.train.monitors.probe import Probe

REGISTERED_STEP_TAG = "ganforge.registered_step"  # the step of the generator the run registered


def check_due(spec, done: int) -> bool:
    """Whether step ``done`` is one where a monitor may stop the run (every rank computes the same)."""
    if not spec.train.stop_on:
        return False
    return done % spec.train.log_every == 0 or bool(spec.eval.every and done % spec.eval.every == 0)


class Watch:
    """Monitors (rank 0), ADA's metrics, and the best evaluated generator of one run."""

    def __init__(self, spec, modules, meta: dict, device, client=None, run_id: str | None = None,
                 evaluator: Callable[[], object] | None = None, printer=print):
        self.spec, self.modules, self.meta = spec, modules, meta
        self.client, self.run_id = client, run_id
        self.meter = SignMeter()
        generates = getattr(modules.G, "z_dim", 0) > 0  # sample batches and D's gap need G(z, y)
        self.probe = Probe(spec, modules, meta, device, self.meter, evaluator if generates else None)
        if not generates:
            self.probe.d_gap = lambda: None
        self.monitors = MonitorSet.from_spec(spec, client, run_id, printer)
        self._directory = tempfile.TemporaryDirectory(prefix="ganforge-best-")
        self.best = BestKeeper(spec.monitors.track, self._directory.name)

    def attach(self, step_fn) -> None:
        """Feed D's outputs on reals in each D update of ``step_fn`` to the r_t meter (steps
        without the hook, like the paired task's or BSA's, give no r_t and no D gap)."""
        observers = getattr(getattr(step_fn, "cfg", None), "observe_real", None)
        if observers is None:  # not a GanStep (paired, BSA without a D): no r_t, no D gap either
            self.probe.d_gap = lambda: None
        elif self.spec.monitors.enabled:
            observers.append(self.meter.add)

    def watch_evaluator(self, evaluator) -> None:
        """Let the monitors read the evaluation's own sample features (call once it is built)."""
        if self.probe.evaluator is not None:
            self.probe.watch_evaluator(evaluator)

    def on_log(self, done: int) -> dict[str, float]:
        """The log-interval monitors and ADA's p / r_t (logged here); returns them."""
        values = dict(self.modules.extras["ada"].metrics()) if "ada" in self.modules.extras else {}
        if values and self.client is not None:
            from ganforge import tracking

            tracking.log_metrics(self.client, self.run_id, values, done)
        values.update(self.monitors.check("log", done, self.probe.at()))
        return values

    def on_eval(self, done: int, evaluation: dict) -> dict[str, float]:
        """The evaluation monitors, and the generator kept when this evaluation is the best."""
        if self.best.improved(done, evaluation):
            self._keep(done)
        return self.monitors.check("eval", done, self.probe.at(evaluation))

    def _keep(self, done: int) -> None:
        from ganforge.train.checkpoint import atomic_save, generator_state
        from ganforge.train.setup import sampling_generator

        state = generator_state(sampling_generator(self.modules), self.spec.to_dict(), self.meta, done)
        atomic_save(state, self.best.path)
        if self.client is not None:
            for key, value in self.best.tags().items():
                self.client.set_tag(self.run_id, key, value)

    @property
    def stop(self) -> Alarm | None:
        """The alarm listed in ``train.stop_on`` that fired, if any."""
        return self.monitors.stop

    @property
    def seconds(self) -> float:
        """Time spent in the monitors' checks."""
        return self.monitors.seconds

    def registered_file(self, last: Path, last_step: int) -> tuple[Path, int]:
        """(generator file, step) to register: the best evaluated one, else ``last``."""
        if self.best.step is not None and self.best.path.is_file():
            return self.best.path, self.best.step
        return last, last_step

    def close(self) -> None:
        """Remove the kept file (after registration)."""
        self._directory.cleanup()
