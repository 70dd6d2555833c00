"""The pretrained generator (and discriminator) an adaptation starts from, from any generator
source form (sampling.py's resolver: ``models:/name/version|latest|@alias``, run id, checkpoint).

A registered model carries only ``generator.pt`` (spec, meta, the sampling generator's weights);
a method that trains D too (fine-tuning) reads D from the run's full checkpoint (logged under
``checkpoint/`` by every finished run) or from a checkpoint directory.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import load_checkpoint


class AdaptSourceError(ValueError):
    """The adaptation source cannot serve the method; the message names the problem and the fix."""


@dataclass
class SourceWeights:
    """The source's spec and meta (what rebuild it) and its weights."""

    spec: dict
    meta: dict
    G: dict
    D: dict | None
    pinned: str

    @property
    def family(self) -> str:
        return self.spec["model"]["name"]


def _payload(source: str, tracking_uri: str | None):
    from ganforge.sampling import _local_file, check_source  # the one resolver every command uses

    resolved = check_source(source, tracking_uri)
    return resolved, load_checkpoint(_local_file(resolved, tracking_uri))


def _run_checkpoint(run_id: str, tracking_uri: str | None) -> dict | None:
    """The full checkpoint a finished ganforge run logged (None when it has none)."""
    import mlflow

    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint", tracking_uri=tracking_uri)
    except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
        return None
    return load_checkpoint(local)


def load_source(source: str, tracking_uri: str | None = None, need_discriminator: bool = False) -> SourceWeights:
    """The source's spec, meta and weights (G: its EMA weights when it has them, as sampling uses).

    Raises AdaptSourceError when the source is not a generate-task generator, or when
    ``need_discriminator`` and no discriminator weights can be found for it.
    """
    resolved, payload = _payload(source, tracking_uri)
    task = payload["spec"].get("task", "generate")
    if task != "generate":
        raise AdaptSourceError(f"adapt.source={source!r} is a {task} model; adaptation starts from a generate-task "
                               "generator G(z, y) (e.g. one `ganforge train jobs/adapt/pretrain-sngan.yaml` made)")
    weights = payload.get("G_ema") or payload["G"]
    D = payload.get("D")
    if D is None and need_discriminator and resolved.run_id:
        full = _run_checkpoint(resolved.run_id, tracking_uri)
        D = full.get("D") if full else None
    if D is None and need_discriminator:
        raise AdaptSourceError(f"adapt.source={source!r} holds no discriminator, which this method trains: point "
                               "adapt.source at the run's checkpoint directory or at a run that logged checkpoint/")
    return SourceWeights(payload["spec"], payload["meta"], weights, D, resolved.pinned)


def rebuild_pair(spec_dict: dict, meta: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Untrained (G, D) of the architecture a source file's spec and meta describe."""
    from ganforge.models import build_models

    spec = ExperimentSpec(**spec_dict)
    return build_models(spec.model, tuple(meta["img_shape"]), int(meta.get("num_classes", 0)))


def pretrained_pair(weights: SourceWeights) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(G, D) with the source's weights (D untouched when the source has none)."""
    G, D = rebuild_pair(weights.spec, weights.meta)
    G.load_state_dict(weights.G)
    if weights.D is not None:
        D.load_state_dict(weights.D)
    return G, D
