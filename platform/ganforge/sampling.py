"""Load a generator from anywhere a user names one, and sample from it.

Sources (:data:`SOURCE_FORMS`): what MLflow's ``models:/`` URIs accept (``models:/name/3``,
``models:/name/latest``, ``models:/name@alias``, ``models:/<logged model id>``), ``runs:/id/path``,
a bare MLflow run id, or a local checkpoint directory/file. :func:`check_source` resolves one
against a given tracking URI without touching weights; :func:`load_generator` loads it.

Latents are seeded (same seed, same images), with the truncation trick (BigGAN: resample
|z| > threshold) and interpolation in Z, or in W for style-based generators that expose
``mapping``/``synthesis``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganforge.config import ExperimentSpec
from ganforge.train.checkpoint import CHECKPOINT_FILE, GENERATOR_FILE, find_checkpoint_file, load_checkpoint


@dataclass
class LoadedGenerator:
    """A generator in eval mode plus where it came from."""

    generator: torch.nn.Module
    spec: ExperimentSpec
    run_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def generator_from_payload(payload: dict, device: torch.device | str = "cpu") -> torch.nn.Module:
    """Rebuild the generator a checkpoint/generator file describes (EMA weights if present)."""
    from ganforge.tasks import task_of

    spec = ExperimentSpec(**payload["spec"])
    generator = task_of(spec).build_generator(spec, payload["meta"])
    weights = payload.get("G_ema") or payload["G"]
    generator.load_state_dict(weights)
    return generator.to(device).eval().requires_grad_(False)


SOURCE_FORMS = ("models:/name/version, models:/name/latest, models:/name@alias, models:/<logged model id>, "
                "runs:/<run id>/<path>, a bare MLflow run id, or a checkpoint directory or file")
RUN_MODEL = "generator"  # the logged model a bare run id names (tracking.MODEL_NAME; sampling may not import tracking)


class SourceError(ValueError):
    """A generator source that does not resolve or load; the message names the problem and the fix."""


@dataclass
class ResolvedSource:
    """Where a source's weights are, found without downloading or loading them.

    ``pinned`` names the same weights for good (``models:/name/latest`` -> ``models:/name/3``),
    so that every Serve replica loads what was resolved once at start-up.
    """

    source: str
    pinned: str
    location: str  # a local file, or the artifact URI of the model's files
    run_id: str | None = None
    info: dict[str, Any] = field(default_factory=dict)


def _looks_like_run_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _client(source: str, tracking_uri: str | None):
    """An MlflowClient on ``tracking_uri`` (None: MLflow's default); a missing sqlite store is an error."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = tracking_uri or mlflow.get_tracking_uri()
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        # sqlite:///rel.db or sqlite:////abs.db; opening a missing file would create an empty store.
        if not path.is_file():
            raise SourceError(f"{source}: the MLflow store {uri} does not exist; run where its mlflow.db is, "
                              "or point MLFLOW_TRACKING_URI (or --tracking-uri) at the store that holds the model")
    return MlflowClient(uri), uri


def _mlflow_call(source: str, what: str, call, *args):
    """``call(*args)``, with MLflow's RESOURCE_DOES_NOT_EXIST turned into None and other errors into SourceError."""
    from mlflow.exceptions import MlflowException

    try:
        return call(*args)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise SourceError(f"{source}: looking up {what} failed: {err.message}") from None


def _quoted(value: str) -> str:
    """A string literal for an MLflow search filter (double quotes when the value holds a single one)."""
    return f'"{value}"' if "'" in value else f"'{value}'"


def _listing(items, empty: str = "none") -> str:
    return ", ".join(str(i) for i in items) or empty


def _registered(client, source: str, uri: str, name: str):
    """The registered model ``name``, or a SourceError that lists the ones the store has."""
    model = _mlflow_call(source, f"registered model {name!r}", client.get_registered_model, name)
    if model is None:
        known = [m.name for m in client.search_registered_models(max_results=20)]
        raise SourceError(f"{source}: no registered model {name!r} in {uri} (registered there: {_listing(known)}); "
                          f"accepted sources: {SOURCE_FORMS}")
    return model


def _versions(client, name: str) -> list:
    """Every version of ``name``, newest first (version numbers compared as integers)."""
    return sorted(client.search_model_versions(f"name={_quoted(name)}"), key=lambda v: int(v.version), reverse=True)


def _version_by_number(client, source, uri, name, number):
    version = _mlflow_call(source, f"{name} version {number}", client.get_model_version, name, number)
    if version is None:
        _registered(client, source, uri, name)
        numbers = [v.version for v in _versions(client, name)]
        raise SourceError(f"{source}: registered model {name!r} has no version {number} (versions: {_listing(numbers)}; "
                          f"models:/{name}/latest is the newest)")
    return version


def _version_latest(client, source, uri, name, _):
    # MLflow's meaning of "latest": the highest version number, whatever its stage or alias.
    _registered(client, source, uri, name)
    versions = _versions(client, name)
    if not versions:
        raise SourceError(f"{source}: registered model {name!r} has no versions yet")
    return versions[0]


def _version_by_alias(client, source, uri, name, alias):
    version = _mlflow_call(source, f"alias {alias!r} of {name}", client.get_model_version_by_alias, name, alias)
    if version is None:
        aliases = sorted(_registered(client, source, uri, name).aliases)
        raise SourceError(f"{source}: registered model {name!r} has no alias {alias!r} (aliases: {_listing(aliases)}; "
                          f"set one with MlflowClient().set_registered_model_alias)")
    return version


VERSION_LOOKUPS = {"version": _version_by_number, "latest": _version_latest, "alias": _version_by_alias}


def parse_models_uri(source: str) -> tuple[str, str, str]:
    """``models:/...`` -> (kind, name, reference): kind is version, latest, alias or model_id (MLflow's grammar)."""
    body = source.removeprefix("models:/")
    parts = body.split("/")
    if len(parts) == 1 and "@" in body:
        name, alias = body.rsplit("@", 1)
        if name and alias:
            return "alias", name, alias
    elif len(parts) == 1 and body:
        return "model_id", body, body
    elif len(parts) == 2 and all(parts):
        name, suffix = parts
        if suffix.isdigit():
            return "version", name, suffix
        if suffix.lower() == "latest":
            return "latest", name, suffix
        raise SourceError(f"{source}: {suffix!r} is neither a version number nor 'latest' (MLflow's model stages are "
                          f"deprecated: give the version an alias and use models:/{name}@ALIAS)")
    raise SourceError(f"{source}: not a models:/ URI MLflow accepts; accepted sources: {SOURCE_FORMS}")


def _resolve_models_uri(source: str, tracking_uri: str | None) -> ResolvedSource:
    kind, name, ref = parse_models_uri(source)
    client, uri = _client(source, tracking_uri)
    if kind == "model_id":
        return _logged_model(client, source, uri, ref)
    version = VERSION_LOOKUPS[kind](client, source, uri, name, ref)
    location = client.get_model_version_download_uri(name, version.version)
    info = {"uri": source, "name": name, "version": str(version.version), "model_id": getattr(version, "model_id", None)}
    return ResolvedSource(source, f"models:/{name}/{version.version}", location, version.run_id, info)


def _logged_model(client, source: str, uri: str, model_id: str) -> ResolvedSource:
    model = _mlflow_call(source, f"logged model {model_id!r}", client.get_logged_model, model_id)
    if model is None:
        raise SourceError(f"{source}: no logged model {model_id!r} in {uri} and no registered model of that name "
                          f"(a registered model needs a version: models:/{model_id}/latest); accepted sources: {SOURCE_FORMS}")
    info = {"uri": source, "model_id": model.model_id}
    return ResolvedSource(source, f"models:/{model.model_id}", model.artifact_location, model.source_run_id, info)


def _resolve_runs_uri(source: str, tracking_uri: str | None) -> ResolvedSource:
    run_id, _, path = source.removeprefix("runs:/").partition("/")
    path = path.strip("/")
    if not run_id or not path:
        raise SourceError(f"{source}: a runs:/ URI names a run and a path in it, e.g. runs:/<run id>/{RUN_MODEL}")
    return _run_artifact(source, tracking_uri, run_id, path)


def _run_artifact(source: str, tracking_uri: str | None, run_id: str, path: str) -> ResolvedSource:
    """The logged model named ``path`` of the run (MLflow 3), else the run artifact at ``path``."""
    client, uri = _client(source, tracking_uri)
    run = _mlflow_call(source, f"run {run_id}", client.get_run, run_id)
    if run is None:
        raise SourceError(f"{source}: no MLflow run {run_id!r} in {uri}")
    head, _, rest = path.partition("/")
    for model in client.search_logged_models([run.info.experiment_id], filter_string=f"name = {_quoted(head)}"):
        if model.source_run_id == run_id:
            location = f"{model.artifact_location.rstrip('/')}/{rest}" if rest else model.artifact_location
            return ResolvedSource(source, f"runs:/{run_id}/{path}", location, run_id, {"uri": source, "model_id": model.model_id})
    parent = path.rpartition("/")[0] or None
    entries = client.list_artifacts(run_id, parent)
    if not any(entry.path == path for entry in entries):
        raise SourceError(f"{source}: run {run_id} has no logged model or artifact {path!r} "
                          f"(it has: {_listing(sorted(e.path for e in entries))}); a finished ganforge run logs "
                          f"runs:/{run_id}/{RUN_MODEL}")
    location = f"{run.info.artifact_uri.rstrip('/')}/{path}"
    return ResolvedSource(source, f"runs:/{run_id}/{path}", location, run_id, {"uri": source})


def _resolve_run_id(source: str, tracking_uri: str | None) -> ResolvedSource:
    return _run_artifact(source, tracking_uri, source, RUN_MODEL)


def _resolve_path(source: str, tracking_uri: str | None) -> ResolvedSource:
    try:
        file = find_checkpoint_file(source)
    except FileNotFoundError as err:
        raise SourceError(f"{source}: {err}; point at a checkpoint directory (checkpoint.pt) or a generator.pt") from None
    return ResolvedSource(source, str(Path(source).resolve()), str(file.resolve()), None, {"path": str(source)})


# (matches, resolve) in the order tried: an existing path wins over a look-alike run id.
SOURCE_KINDS = [
    (lambda s: Path(s).exists(), _resolve_path),
    (lambda s: s.startswith("models:/"), _resolve_models_uri),
    (lambda s: s.startswith("runs:/"), _resolve_runs_uri),
    (_looks_like_run_id, _resolve_run_id),
]


def check_source(source: str, tracking_uri: str | None = None) -> ResolvedSource:
    """Resolve ``source`` (see :data:`SOURCE_FORMS`) against the MLflow store at ``tracking_uri``
    without downloading or loading weights; a :class:`SourceError` says what is wrong.

    Registry versions are resolved the way MLflow does: ``latest`` is the highest version number,
    ``@alias`` the version the alias points at.
    """
    for matches, resolve in SOURCE_KINDS:
        if matches(source):
            return resolve(source, tracking_uri)
    raise SourceError(f"{source!r} is neither an existing checkpoint path nor a model URI or run id; "
                      f"accepted sources: {SOURCE_FORMS}")


def _local_file(resolved: ResolvedSource, tracking_uri: str | None) -> Path:
    """The generator/checkpoint file of a resolved source, downloaded when it lives in MLflow."""
    import mlflow

    if resolved.run_id is None and "path" in resolved.info:
        return Path(resolved.location)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=resolved.location, tracking_uri=tracking_uri))
    files = [local] if local.is_file() else sorted(local.rglob(GENERATOR_FILE)) or sorted(local.rglob(CHECKPOINT_FILE))
    if not files:
        raise SourceError(f"{resolved.source}: {resolved.location} holds no {GENERATOR_FILE}: it is not a ganforge generator")
    return files[0]


def load_generator(source: str, device: torch.device | str = "cpu", tracking_uri: str | None = None) -> LoadedGenerator:
    """Load the generator ``source`` names (:data:`SOURCE_FORMS`), in eval mode on ``device``.

    MLflow sources are looked up in the store at ``tracking_uri`` (None: MLflow's default).
    """
    resolved = check_source(source, tracking_uri)
    path = _local_file(resolved, tracking_uri)
    try:
        payload = load_checkpoint(path)
        generator, spec = generator_from_payload(payload, device), ExperimentSpec(**payload["spec"])
    except Exception as err:  # noqa: BLE001 - any unreadable/foreign file gets the same one-line answer
        raise SourceError(f"{source}: {path} cannot be loaded as a ganforge generator "
                          f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
    info = {**resolved.info, "pinned": resolved.pinned, "step": payload.get("step")}
    return LoadedGenerator(generator, spec, resolved.run_id, info)


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
