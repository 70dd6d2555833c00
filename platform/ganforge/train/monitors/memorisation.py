"""Memorisation: MiFID's distance term (mean over samples of the minimum cosine distance to any
training image, in the extractor's space) below a threshold: the generator copies its data."""
from __future__ import annotations

from ganforge.train.monitors import MONITORS

ADVICE = "the generator reproduces training images: stop earlier (the best checkpoint is kept), add data or augmentation"


@MONITORS.register("memorisation")
class Memorisation:
    """MiFID's memorisation distance of the fixed-seed samples below ``monitors.min_distance``."""

    phase = "eval"

    def check(self, probe, options) -> tuple[dict[str, float], str | None]:
        """(monitor.min_distance), and the alarm message."""
        fake, real = probe.samples(), probe.real_pool()
        if fake is None or real is None:
            return {}, None
        # Imported here: metrics.mifid pulls torch-fidelity into every worker that imports the loop.
        from ganforge.metrics.mifid import memorization_distance

        distance = memorization_distance(fake["pool"], real)
        metrics = {"monitor.min_distance": distance}
        if distance < options.min_distance:
            return metrics, (f"samples lie {distance:.4f} (1 - |cos|) from their nearest training image "
                             f"< monitors.min_distance={options.min_distance}: {ADVICE}")
        return metrics, None
