"""Monitors and alarms: the failures small-data GAN training is known for, seen while it trains.

Each monitor is a registry entry (``MONITORS``) that looks at what a ``Probe`` offers at a check
(D's r_t and its train/held-out gap, a fixed-seed sample batch in the evaluation extractor's
feature space, the evaluation's values) and returns its metrics and, when its threshold is
crossed, an alarm message. ``MonitorSet`` runs them on rank 0: an alarm prints one line, logs a
metric and a tag in MLflow with its step, and asks the loop to stop cleanly when
``train.stop_on`` names it. ``BestKeeper`` keeps the best evaluated generator for registration.
"""
from __future__ import annotations

from ganforge.registry import Registry

MONITORS = Registry("monitor")

from ganforge.autoload import import_submodules  # noqa: E402

import_submodules(__name__)

from ganforge.train.monitors.base import Alarm, MonitorSet, agree_to_stop  # noqa: E402
from ganforge.train.monitors.best import BestKeeper  # noqa: E402

__all__ = ["MONITORS", "Alarm", "BestKeeper", "MonitorSet", "agree_to_stop"]
