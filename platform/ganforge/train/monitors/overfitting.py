"""Discriminator overfitting: r_t = E[sign D(real)] and D's train / held-out gap (Karras et al. 2020).

An overfitting D scores the images it was trained on as real (r_t -> 1) and images it never saw
like fakes (the paper's Fig. 1). The gap says where held-out reals sit in D's mean logit between
training reals (0: D cannot tell them apart, healthy) and fakes (1: D treats unseen reals as
fakes): scale-free, so one threshold serves every loss. With held-out data the alarm is on the
gap; r_t alone (logged always) reads 1 in many healthy early runs of a confident D, so it alarms
only where no held-out data exists.
"""
from __future__ import annotations

from ganforge.train.monitors import MONITORS

ADVICE = "D is overfitting its training images: set augment.ada: {target: 0.6} (or DiffAugment), or add data"


@MONITORS.register("overfitting")
class Overfitting:
    """D's train/held-out gap above ``monitors.d_gap_max``; without held-out data, r_t above ``monitors.r_t_max``."""

    phase = "log"

    def check(self, probe, options) -> tuple[dict[str, float], str | None]:
        """(monitor.r_t, monitor.d_gap where a held-out batch exists), and the alarm message."""
        metrics, problems = {}, []
        r_t, gap = probe.r_t(), probe.d_gap()
        if r_t is not None:
            metrics["monitor.r_t"] = r_t
            if gap is None and r_t > options.r_t_max:
                problems.append(f"r_t = E[sign D(real)] = {r_t:.3f} > monitors.r_t_max={options.r_t_max} "
                                "(no held-out reals: data.limit unset)")
        if gap is not None:
            metrics["monitor.d_gap"] = gap
            if gap > options.d_gap_max:
                problems.append(f"D scores held-out reals {gap:.2f} of the way from training reals to fakes "
                                f"> monitors.d_gap_max={options.d_gap_max}")
        return metrics, ("; ".join(problems) + f". {ADVICE}") if problems else None
