"""The Serve app's arguments (the ``args:`` block of serving/config.yaml, validated by
:class:`ServeArgs`) and what the builder makes of them: public model names, sources pinned to a
version, the bearer token."""

import os
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ServeArgs(BaseModel):
    """Arguments of :func:`build_app` (the ``args:`` block of serving/config.yaml)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    models: Union[list[str], dict[str, str]] = Field(
        ..., description="generator sources (models:/name/version, models:/name/latest, models:/name@alias, "
                         "runs:/ID/PATH, a run id, a checkpoint dir), or a mapping public name -> source; "
                         "the first is the default")
    tracking_uri: Optional[str] = Field(None, description="MLflow tracking URI the sources are looked up in "
                                                          "(default: MLFLOW_TRACKING_URI, else ./mlflow.db where the app is built)")
    token_env: Optional[str] = Field(None, description="environment variable holding the bearer token")
    token_file: Optional[str] = Field(None, description="file holding the bearer token")
    batching: bool = Field(True, description="batch requests across clients (@serve.batch); off: one forward per request")
    max_batch_size: int = Field(16, ge=1, le=256, description="requests per batched forward")
    batch_wait_timeout_s: float = Field(0.01, ge=0, le=1, description="how long a batch waits to fill")
    max_body_bytes: int = Field(16384, ge=256, description="larger request bodies get 413 (all routes but /v1/translate)")
    max_image_bytes: int = Field(8 * 2**20, ge=1024, description="larger /v1/translate bodies get 413 (base64 JSON: "
                                                                  "the encoded size counts)")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="images whose header declares more pixels "
                                                                 "(width x height) get 413, before they are decoded")
    num_replicas: Union[int, Literal["auto"]] = Field(1, description="generator replicas, or 'auto' (autoscaling)")
    autoscaling_config: Optional[dict[str, Any]] = Field(None, description="Ray Serve AutoscalingConfig fields")
    num_cpus: float = Field(1, ge=0, description="CPUs per generator replica")
    num_gpus: float = Field(0, ge=0, description="GPUs per generator replica (the model runs on GPU when it has one)")

    @field_validator("models", mode="before")
    @classmethod
    def _split(cls, value):  # `serve run ... models=a,b` passes one string
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("models")
    @classmethod
    def _not_empty(cls, value):
        if not value:
            raise ValueError("name at least one generator source")
        return value


def model_key(source: str) -> str:
    """Public name of a source: models:/gen/3 -> gen/3, models:/gen@prod -> gen@prod, dir -> its name."""
    if source.startswith("models:/"):
        return source.removeprefix("models:/")
    if source.startswith("runs:/"):
        return source.removeprefix("runs:/").split("/")[0]
    path = Path(source)
    return path.name if path.exists() else source


def named_sources(models: Union[list[str], dict[str, str]]) -> dict[str, str]:
    """{public name: source}, checkpoint paths made absolute (replicas run elsewhere)."""
    pairs = models.items() if isinstance(models, dict) else [(model_key(s), s) for s in models]
    out: dict[str, str] = {}
    for name, source in pairs:
        source = str(Path(source).resolve()) if Path(source).exists() else source
        unique, i = name, 2
        while unique in out:
            unique, i = f"{name}-{i}", i + 1
        out[unique] = source
    return out


def pinned_sources(sources: dict[str, str], tracking_uri: str) -> dict[str, str]:
    """{public name: the resolved source}: models:/gen/latest -> models:/gen/3, so every replica serves the
    version resolved now. A source that does not resolve raises ``SourceError`` (a ValueError), one line."""
    from ganforge.sampling import check_source

    return {name: check_source(source, tracking_uri).pinned for name, source in sources.items()}


def read_token(token_env: Optional[str], token_file: Optional[str]) -> Optional[str]:
    """The bearer token from an environment variable or a file (None: auth off)."""
    if token_env:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise ValueError(f"token_env: environment variable {token_env} is not set or empty")
        return token
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise ValueError(f"token_file: {path} does not exist")
        token = path.read_text().strip()
        if not token:
            raise ValueError(f"token_file: {path} is empty")
        return token
    return None
