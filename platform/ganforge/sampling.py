"""Load a generator from anywhere a user names one, and sample from it.

Sources: ``models:/name/version`` or ``models:/name@alias`` (the MLflow registry), ``runs:/id/...``,
a bare MLflow run id, or a local checkpoint directory/file. Latents are seeded (same seed,
same images), with the truncation trick (BigGAN: resample |z| > threshold) and interpolation
in Z, or in W for style-based generators that expose ``mapping``/``synthesis``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import GENERATOR_FILE, find_checkpoint_file, load_checkpoint


@dataclass
class LoadedGenerator:
    """A generator in eval mode plus where it came from."""

    generator: torch.nn.Module
    spec: ExperimentSpec
    run_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def generator_from_payload(payload: dict, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Rebuild the generator a checkpoint/generator file describes (EMA weights if present)."""
    from ganforge.models import build_models

    spec = ExperimentSpec(**payload["spec"])
    meta = payload["meta"]
    generator, _ = build_models(spec.model, tuple(meta["img_shape"]), meta["num_classes"])
    weights = payload.get("G_ema") or payload["G"]
    generator.load_state_dict(weights)
    return generator.to(device).eval().requires_grad_(False)


def _looks_like_run_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _download_model(uri: str) -> tuple[Path, str | None, dict]:
    """Download an MLflow model URI; returns (generator file, run id, info)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    files = list(local.rglob(GENERATOR_FILE))
    if not files:
        raise FileNotFoundError(f"{uri} holds no {GENERATOR_FILE}: it is not a ganforge generator model")
    info = mlflow.models.get_model_info(uri)
    run_id = info.run_id
    details: dict[str, Any] = {"uri": uri, "model_id": getattr(info, "model_id", None)}
    if uri.startswith("models:/"):
        name, _, ref = uri.removeprefix("models:/").partition("/")
        if "@" in name:
            name, alias = name.split("@", 1)
            version = MlflowClient().get_model_version_by_alias(name, alias)
        else:
            version = MlflowClient().get_model_version(name, ref)
        details.update(name=name, version=version.version)
        run_id = version.run_id or run_id
    return files[0], run_id, details


def _resolve(source: str) -> tuple[Path, str | None, dict]:
    if Path(source).exists():
        return find_checkpoint_file(source), None, {"path": str(source)}
    if source.startswith(("models:/", "runs:/")):
        return _download_model(source)
    if _looks_like_run_id(source):
        return _download_model(f"runs:/{source}/generator")
    raise FileNotFoundError(
        f"{source!r} is neither an existing checkpoint path, a model URI (models:/name/version, "
        "models:/name@alias, runs:/id/generator) nor an MLflow run id"
    )


def load_generator(source: str, device: torch.device | str = "cpu") -> LoadedGenerator:
    """Load the generator ``source`` names (see module docstring), in eval mode on ``device``."""
    path, run_id, info = _resolve(source)
    payload = load_checkpoint(path)
    info.setdefault("step", payload.get("step"))
    return LoadedGenerator(generator_from_payload(payload, device), ExperimentSpec(**payload["spec"]), run_id, info)


def truncated_normal(n: int, dim: int, threshold: float | None, generator: torch.Generator) -> torch.Tensor:
    """N(0, I) latents; with a threshold, entries with |z| > threshold are resampled (BigGAN)."""
    z = torch.randn(n, dim, generator=generator)
    if threshold is None:
        return z
    for _ in range(1000):
        outside = z.abs() > threshold
        if not outside.any():
            return z
        z[outside] = torch.randn(int(outside.sum()), generator=generator)
    return z.clamp(-threshold, threshold)


def latents(n: int, z_dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """Seeded latents: the same (seed, n) always gives the same z."""
    return truncated_normal(n, z_dim, truncation, torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample_images(generator: torch.nn.Module, n: int, seed: int = 0, truncation: float | None = None,
                  class_id: int | None = None, batch_size: int = 256) -> torch.Tensor:
    """n images in [-1, 1] on the CPU. Labels: ``class_id`` for all, else cycling classes.

    ``truncation``: the BigGAN threshold on |z|, or for style-based generators (those with
    ``generate_truncated``) the W-space psi in (0, 1].
    """
    device = next(generator.parameters()).device
    # Style-based generators truncate in W (psi = truncation); others resample |z| > threshold.
    w_truncation = truncation is not None and hasattr(generator, "generate_truncated")
    z = latents(n, generator.z_dim, seed, None if w_truncation else truncation)
    if generator.num_classes:
        if class_id is not None and not 0 <= class_id < generator.num_classes:
            raise ValueError(f"class_id {class_id} out of range 0..{generator.num_classes - 1}")
        y = torch.full((n,), class_id, dtype=torch.long) if class_id is not None else torch.arange(n) % generator.num_classes
    else:
        y = None
    chunks = []
    for start in range(0, n, batch_size):
        zb = z[start : start + batch_size].to(device)
        yb = y[start : start + batch_size].to(device) if y is not None else None
        images = generator.generate_truncated(zb, yb, truncation) if w_truncation else generator(zb, yb)
        chunks.append(images.float().cpu())
    return torch.cat(chunks)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent rows a and b at fractions t [steps]."""
    a_n, b_n = a / a.norm(), b / b.norm()
    omega = torch.acos((a_n * b_n).sum().clamp(-1, 1))
    if omega.abs() < 1e-6:
        return torch.lerp(a, b, t[:, None])
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega)[:, None] * a + torch.sin(t * omega)[:, None] * b) / so


@torch.no_grad()
def interpolate(generator: torch.nn.Module, seed_a: int, seed_b: int, steps: int, space: str = "z",
                class_id: int | None = None) -> torch.Tensor:
    """Images along a path between two seeds' latents: slerp in Z, lerp in W (style-based)."""
    device = next(generator.parameters()).device
    za, zb = latents(1, generator.z_dim, seed_a)[0], latents(1, generator.z_dim, seed_b)[0]
    t = torch.linspace(0, 1, steps)
    y = None
    if generator.num_classes:
        y = torch.full((steps,), class_id or 0, dtype=torch.long, device=device)
    if space == "w":
        if not (hasattr(generator, "mapping") and hasattr(generator, "synthesis")):
            raise ValueError("W-space interpolation needs a style-based generator (mapping/synthesis)")
        wa = generator.mapping(za[None].to(device), y[:1] if y is not None else None)
        wb = generator.mapping(zb[None].to(device), y[:1] if y is not None else None)
        w = torch.lerp(wa, wb, t.to(device).view(-1, *([1] * (wa.dim() - 1))))
        return generator.synthesis(w).float().cpu()
    if space != "z":
        raise ValueError(f"space must be 'z' or 'w', got {space!r}")
    return generator(slerp(za, zb, t).to(device), y).float().cpu()


def grid_rows(n: int) -> int:
    """Images per row of a near-square grid of n images."""
    return max(1, math.ceil(math.sqrt(n)))
