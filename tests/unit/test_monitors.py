"""Each monitor fires on its constructed case and stays quiet on a healthy one, through the real
Probe (D, the fixed-seed sample batch, the domain:digits extractor and its cached real features).

Constructed generators stand in for trained ones: one that outputs one image (collapse), one
that returns training images (memorisation), one that returns held-out reals (healthy: as varied
as the data, covering its classes, copying nothing). A scripted D that memorised its training
batch (overfitting) against one that scores images by a property every digit shares (healthy).
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.train.monitors.base import MonitorSet
from ganforge.train.monitors.probe import Probe, heldout_images

pytestmark = pytest.mark.unit

LIMIT = 64


@pytest.fixture(scope="module")
def world():
    """A digits spec (first 64 images, 64 held out past them), its Evaluator and tiny modules."""
    from ganforge.config import ExperimentSpec
    from ganforge.metrics import Evaluator
    from ganforge.tasks import task_of

    spec = ExperimentSpec(data={"name": "digits", "resolution": 16, "limit": LIMIT},
                          model={"z_dim": 8, "options": {"ngf": 4, "ndf": 4}}, train={"ema": 0.0, "steps": 100},
                          eval={"every": 10, "metrics": ["fid"], "n": LIMIT, "extractor": "domain:digits"},
                          monitors={"after": 0})
    evaluator = Evaluator.from_spec(spec)
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(evaluator.dataset), 1)
    train, held = heldout_images(spec.data, spec.monitors.heldout)
    return spec, evaluator, modules, train, held


class Replay(nn.Module):
    """A 'generator' that returns images from ``bank``, picked by its latents (one image if the bank has one)."""

    def __init__(self, bank: torch.Tensor, z_dim: int = 8):
        super().__init__()
        self.bank, self.z_dim, self.num_classes = bank, z_dim, 0
        self.anchor = nn.Parameter(torch.zeros(()))  # sample_images asks for a parameter's device

    def forward(self, z, y=None):
        index = (z[:, 0].abs() * 1e4).long() % len(self.bank)
        return self.bank[index] + 0 * self.anchor


def probe_with(world, generator=None, D=None) -> Probe:
    spec, evaluator, modules, _, _ = world
    from dataclasses import replace

    modules = replace(modules, G=generator or modules.G, D=D or modules.D, G_ema=None)
    return Probe(spec, modules, {"num_classes": 10}, "cpu", evaluator=lambda: evaluator)


def check(world, phase: str, probe: Probe, evaluation=None) -> tuple[dict, list[str]]:
    lines: list[str] = []
    monitors = MonitorSet(world[0].monitors, [], printer=lines.append)
    return monitors.check(phase, 10, probe.at(evaluation)), lines


def test_collapse_fires_on_a_generator_that_outputs_one_image(world):
    one = world[4][0][:1]  # a held-out image: nothing memorised, only collapsed
    metrics, lines = check(world, "eval", probe_with(world, Replay(one)))
    assert metrics["monitor.diversity"] < 1e-6 and metrics["monitor.class_coverage"] == 0.1
    assert [line.split(":")[0] for line in lines] == ["[ganforge] ALARM collapse at step 10"]
    assert "sample diversity 0.000" in lines[0] and "cover 10% of the 10 classes" in lines[0]


def test_memorisation_fires_on_a_generator_that_returns_training_images(world):
    metrics, lines = check(world, "eval", probe_with(world, Replay(world[3][0])))
    assert metrics["monitor.min_distance"] < 1e-6
    assert any("ALARM memorisation" in line for line in lines) and not any("collapse" in line for line in lines)


def test_a_generator_of_held_out_reals_is_healthy(world):
    metrics, lines = check(world, "eval", probe_with(world, Replay(world[4][0])))
    assert metrics["monitor.diversity"] > 0.8 and metrics["monitor.class_coverage"] >= 0.9
    assert metrics["monitor.min_distance"] > 0.01
    assert lines == []


class Memoriser(nn.Module):
    """A D that has memorised its training batch: +5 on those images, -5 on anything else."""

    def __init__(self, seen: torch.Tensor):
        super().__init__()
        self.seen = seen.flatten(1)

    def forward(self, x, y=None):
        hit = torch.cdist(x.flatten(1), self.seen).min(dim=1).values < 1e-4
        return torch.where(hit, 5.0, -5.0)


class InkMeter(nn.Module):
    """A D that generalises: it scores how much ink (contrast) an image has, as every digit does."""

    def forward(self, x, y=None):
        return 10 * (x.flatten(1).std(dim=1) - 0.3)


def test_overfitting_fires_on_a_d_that_memorised_its_training_images(world):
    metrics, lines = check(world, "log", probe_with(world, D=Memoriser(world[3][0])))
    assert metrics["monitor.d_gap"] == pytest.approx(1.0)
    assert len(lines) == 1 and "ALARM overfitting" in lines[0] and "augment.ada" in lines[0]


def test_overfitting_is_quiet_for_a_d_that_generalises(world):
    metrics, lines = check(world, "log", probe_with(world, D=InkMeter()))
    assert abs(metrics["monitor.d_gap"]) < 0.2 and lines == []


def test_without_held_out_data_r_t_alone_decides():
    from ganforge.augment.ada_control import SignMeter
    from ganforge.config import MonitorsSpec

    class NoHeldOut:
        def __init__(self, sign):
            self.meter = SignMeter()
            self.meter.add(torch.full((32,), sign))

        def r_t(self):
            return self.meter.take()[0]

        def d_gap(self):
            return None

    lines: list[str] = []
    monitors = MonitorSet(MonitorsSpec(), [], printer=lines.append)
    assert monitors.check("log", 5, NoHeldOut(-1.0)) == {"monitor.r_t": -1.0} and lines == []
    monitors.check("log", 6, NoHeldOut(1.0))
    assert len(lines) == 1 and "r_t = E[sign D(real)] = 1.000" in lines[0]


class History:
    """A probe that offers only an evaluation (divergence needs nothing else)."""

    evaluation = None

    def samples(self):
        return None

    def real_pool(self):
        return None

    def at(self, evaluation):
        self.evaluation = evaluation
        return self


@pytest.mark.parametrize("history, fires_at", [
    ([50, 40, 30, 31, 33, 36, 40], 5),  # three rises in a row after the best (30): the 6th evaluation
    ([50, 40, 30, 31, 29, 33, 36], None),  # a new best breaks the run
    ([30, 30.1, 30.2, 30.25, 30.3], None),  # within the 1 % tolerance: noise, not a trend
])
def test_divergence_on_a_scripted_fid_history(history, fires_at):
    from ganforge.config import MonitorsSpec

    lines: list[str] = []
    monitors = MonitorSet(MonitorsSpec(), [], printer=lines.append)
    probe = History()
    fired = []
    for index, value in enumerate(history):
        monitors.check("eval", index, probe.at({"domain-digits.fid": value, "domain-digits.fid_best": 1.0}))
        fired += [index] if lines and not fired else []
    assert (fired[0] if fired else None) == fires_at
    assert len(lines) == (1 if fires_at is not None else 0)  # once per run


def test_divergence_follows_the_metrics_direction():
    from ganforge.train.monitors.divergence import worsening_run

    assert worsening_run([5.0, 7.0, 6.0, 5.0, 4.0], lower_is_better=False) == 3  # IS falling after its best
    assert worsening_run([5.0, 7.0, 6.0, 5.0, 4.0], lower_is_better=True) == 0


class Recorder:
    """What MonitorSet sends to MLflow (an MlflowClient's log_batch and set_tag), kept in memory;
    the Ray Train test reads the same from a real store."""

    def __init__(self):
        self.metrics: dict[str, list[tuple[int, float]]] = {}
        self.tags: dict[str, str] = {}

    def log_batch(self, run_id, metrics=()):
        for metric in metrics:
            self.metrics.setdefault(metric.key, []).append((metric.step, metric.value))

    def set_tag(self, run_id, key, value):
        self.tags[key] = value


def test_an_alarm_is_logged_with_its_step_and_stops_the_run_when_listed():
    from ganforge.config import MonitorsSpec

    client, lines = Recorder(), []
    monitors = MonitorSet(MonitorsSpec(), ["divergence"], client, "run", lines.append, start=3)
    probe = History()
    for step, fid in enumerate([30, 31, 33, 36, 40], start=1):
        monitors.check("eval", step, probe.at({"fid": fid}))
        assert (monitors.stop is None) == (step < 4)  # the rise at step 3 is before alarms start
    assert client.tags["ganforge.alarm.divergence"].startswith("step 4: fid got worse 3 evaluations")
    assert client.tags["ganforge.stopped_by"] == "divergence at step 4"
    assert client.metrics["alarm.divergence"] == [(4, 1.0)]
    assert [value for _, value in client.metrics["monitor.worsening"]] == [0, 1, 2, 3, 4]
    assert len(lines) == 1


def test_an_alarm_not_in_stop_on_does_not_stop():
    from ganforge.config import MonitorsSpec

    monitors = MonitorSet(MonitorsSpec(), ["collapse"], Recorder(), "run", lambda line: None)
    for step, fid in enumerate([30, 31, 33, 36]):
        monitors.check("eval", step, History().at({"fid": fid}))
    assert "divergence" in monitors.fired and monitors.stop is None


def test_alarms_start_after_a_quarter_of_the_run_or_the_ema_horizon():
    from ganforge.config import ExperimentSpec
    from ganforge.train.monitors.base import alarm_start

    assert alarm_start(ExperimentSpec(train={"steps": 2000, "ema": 0.0})) == 500
    assert alarm_start(ExperimentSpec(train={"steps": 2000, "ema": 0.999, "ema_start": 100})) == 1100
    assert alarm_start(ExperimentSpec(monitors={"after": 7})) == 7


def test_monitoring_leaves_the_training_state_untouched(world):
    from ganforge.train.checkpoint import training_state
    from statecompare import differences

    import copy

    _, _, modules, _, _ = world
    before = copy.deepcopy(training_state(modules, 0, {}, {}))  # state_dict() holds the live tensors
    probe = probe_with(world)
    check(world, "log", probe)
    check(world, "eval", probe)
    assert not differences(before, training_state(modules, 0, {}, {}))


def test_the_monitors_read_the_evaluations_own_samples_without_extracting_again(world):
    from dataclasses import replace

    spec, evaluator, modules, _, held = world
    tapped = replace(evaluator)  # a copy: the tap rewires its sampler and extractor fields
    plain_values = evaluator(Replay(held[0]))
    probe = probe_with(world, Replay(held[0]))
    probe.evaluator = lambda: tapped
    probe.watch_evaluator(tapped)
    values = tapped(Replay(held[0]))
    assert values == plain_values  # the evaluation itself is unchanged
    calls = evaluator.extractor.calls
    metrics, lines = check(world, "eval", probe, values)
    assert evaluator.extractor.calls == calls  # no extractor pass of the monitors' own
    assert len(probe.samples()["pool"]) == spec.eval.n and metrics["monitor.diversity"] > 0.8 and lines == []
