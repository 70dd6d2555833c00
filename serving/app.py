"""The ganforge Ray Serve application: a FastAPI ingress in front of a batched, multiplexed
generator deployment. /v1/generate and /v1/interpolate serve generate-task models (G(z, y));
/v1/translate (serving/translate.py) serves paired image-to-image models (G(x) -> y).

Deploy it the way Ray users do (``serve run serving.app:app models=models:/gen/1`` or
``serve deploy serving/config.yaml``) or with ``ganforge serve SOURCE...``. ``build_app`` takes
typed arguments (:class:`ServeArgs`), so the config file passes model URIs, batching and replicas.

Requests from all clients are batched per replica with ``@serve.batch``; several generators sit
behind one endpoint with ``@serve.multiplexed`` and are chosen with the request's ``model`` field.
GET /v1/models states each model's task, input shape and scale; a route asked for a model of
another task answers 422 naming the right route.

Sources are what ``ganforge.sampling`` accepts (``models:/name/3``, ``models:/name/latest``,
``models:/name@alias``, ``runs:/ID/PATH``, a run id, a checkpoint dir). The builder resolves each
once, against the app's tracking URI, and fails with one line when one does not resolve; the
replicas load the resolved version (``latest`` and ``@alias`` are pinned at start-up) and fail to
start when one does not load. /healthz answers 503 until every configured model is loaded.
"""

import asyncio
import hashlib
from pathlib import Path
from typing import Any, Literal, Optional

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from ray import serve

from serving.args import ServeArgs, named_sources, pinned_sources, read_token  
from serving.auth import authorize
from serving.generate import forward_jobs, serving_precision, strip_png
from serving.translate import TranslateRoutes, TranslateServing, body_limit, describe_task, require_task, router

STATIC_DIR = Path(__file__).resolve().parent / "static"


# ---------------------------------------------------------------- request bodies
class GenerateRequest(BaseModel):
    """Body of POST /v1/generate."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model: Optional[str] = Field(None, description="which loaded generator (GET /v1/models); default: the first "
                                                   "generate-task model")
    n: int = Field(1, ge=1, le=64, description="number of images")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="latent seed: the same seed gives the same images")
    truncation: Optional[float] = Field(None, gt=0, le=100, description="resample |z| above this (BigGAN truncation)")
    class_id: Optional[int] = Field(None, ge=0, description="class of every image (conditional models); default: cycling")
    format: Literal["png", "grid", "json"] = Field("png", description="png: one image (n=1); grid: one PNG grid; json: base64 PNGs")


class InterpolateRequest(BaseModel):
    """Body of POST /v1/interpolate."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    model: Optional[str] = Field(None, description="which loaded generator; default: the first generate-task model")
    seed_a: int = Field(..., ge=0, le=2**63 - 1, description="seed of the first latent")
    seed_b: int = Field(..., ge=0, le=2**63 - 1, description="seed of the last latent")
    steps: int = Field(8, ge=2, le=32, description="images along the path")
    space: Literal["z", "w"] = Field("z", description="z: slerp between latents; w: lerp in W (style-based generators)")
    class_id: Optional[int] = Field(None, ge=0, description="class of the strip (conditional models)")


# ---------------------------------------------------------------- generator deployment
@serve.deployment
class GeneratorServer(TranslateServing):
    """Holds generators (multiplexed by public name) and runs batched forwards (translate: the mixin)."""

    def __init__(self, sources: dict[str, str], tracking_uri: Optional[str], batching: bool = True,
                 max_batch_size: int = 16, batch_wait_timeout_s: float = 0.01):
        import torch

        self.sources, self.tracking_uri, self.batching = sources, tracking_uri, batching
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.precisions: dict[str, str] = {}  # public name -> the precision its forwards run in
        self.generate_batch.set_max_batch_size(max_batch_size)
        self.generate_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        self.translate_batch.set_max_batch_size(max_batch_size)
        self.translate_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)
        # Every model is loaded now: one that cannot be loaded fails this replica at start-up (Serve
        # then reports the deployment failed) instead of failing requests later. The multiplexed
        # loader takes these first, so nothing is loaded twice.
        self.preloaded = {key: self._read(key) for key in sources}

    async def ready(self) -> list[str]:
        """Answered only by a constructed replica, i.e. one that holds every configured model."""
        return list(self.sources)

    @serve.multiplexed(max_num_models_per_replica=8)
    async def load(self, key: str) -> tuple[Any, dict]:
        """Load one generator (by public name) and describe it."""
        return await asyncio.to_thread(self._load, key)

    def _load(self, key: str) -> tuple[Any, dict]:
        return self.preloaded.pop(key, None) or self._read(key)

    def _read(self, key: str) -> tuple[Any, dict]:
        from ganforge.sampling import load_generator

        loaded = load_generator(self.sources[key], self.device, self.tracking_uri)
        g = loaded.generator
        self.precisions[key] = serving_precision(loaded.spec, self.device)  # fp32 on a CPU
        version = loaded.info.get("version")
        info = {"name": key, "source": self.sources[key], "version": None if version is None else str(version),
                "run_id": loaded.run_id, "step": loaded.info.get("step"), "model": loaded.spec.model.name,
                "resolution": list(g.img_shape[1:]), "channels": g.img_shape[0], "num_classes": g.num_classes,
                "z_dim": g.z_dim, "style_based": hasattr(g, "mapping") and hasattr(g, "synthesis"),
                **describe_task(g), "metrics": _run_metrics(loaded.run_id, self.tracking_uri)}
        return g, info

    async def info(self, key: str) -> dict:
        """What GET /v1/models shows about one generator."""
        return (await self.load(key))[1]

    async def generate(self, job: dict) -> dict:
        """One generate job -> its encoded reply (batched with other clients' jobs when on)."""
        if self.batching:
            return await self.generate_batch(job)
        return (await self._run([job]))[0]

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)  # replaced per replica from ServeArgs
    async def generate_batch(self, jobs: list[dict]) -> list[dict]:
        return await self._run(jobs)

    async def _run(self, jobs: list[dict]) -> list[dict]:
        models = {key: (await self.load(key))[0] for key in {job["model"] for job in jobs}}
        return await asyncio.to_thread(forward_jobs, models, jobs, self.precisions)

    async def interpolate(self, job: dict) -> bytes:
        """A strip of images between two seeds' latents, as one PNG row."""
        from ganforge.sampling import interpolate

        generator = (await self.load(job["model"]))[0]

        def run():
            images = interpolate(generator, job["seed_a"], job["seed_b"], job["steps"], job["space"], job["class_id"])
            return strip_png(images)

        return await asyncio.to_thread(run)


def _run_metrics(run_id: Optional[str], tracking_uri: Optional[str]) -> dict:
    if not run_id:
        return {}
    try:
        from mlflow.tracking import MlflowClient

        return dict(MlflowClient(tracking_uri).get_run(run_id).data.metrics)
    except Exception:  # noqa: BLE001 - metrics are informative; a missing run must not stop serving
        return {}


# ---------------------------------------------------------------- readiness
READY_TIMEOUT_S = 3.0  # /healthz: how long a generator replica gets to answer
FIRST_USE_TIMEOUT_S = 60.0  # the first request for a model: how long it waits for a replica holding it


def generator_problem() -> str:
    """Why this app's generator replicas do not answer, as Serve reports it (the loader's one line)."""
    import re

    try:
        app_name = serve.get_replica_context().app_name
        deployment = serve.status().applications[app_name].deployments[GeneratorServer.name]
    except Exception:  # noqa: BLE001 - the reason is a courtesy; the 503 stands without it
        return "no generator replica is running yet"
    found = re.findall(r"SourceError: (.+)", deployment.message or "")
    if found:
        return f"a configured model cannot be loaded: {found[-1].strip()}"
    first_line = (deployment.message or "").strip().splitlines()[:1]
    return f"generator deployment {deployment.status}" + (f": {first_line[0]}" if first_line else "")


async def answered_within(response, timeout_s: float):
    """The result of a deployment call, or None when no replica answered in time (the call is then
    cancelled) or Serve says the deployment is unavailable (it failed to deploy)."""
    from ray.serve.exceptions import DeploymentUnavailableError

    try:
        return await asyncio.wait_for(response, timeout_s)
    except asyncio.TimeoutError:
        response.cancel()
        return None
    except DeploymentUnavailableError:
        return None


# ---------------------------------------------------------------- HTTP ingress
api = FastAPI(title="ganforge", description="Sample images from trained GAN generators; translate images with "
                                             "paired image-to-image models.", version="1")


@api.middleware("http")
async def limit_body(request: Request, call_next):
    """413 for bodies larger than the route's configured limit (declared or actual size)."""
    limit = body_limit(request)
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        return JSONResponse({"detail": f"body: request body larger than {limit} bytes"}, status_code=413)
    if request.method == "POST" and declared is None and len(await request.body()) > limit:
        return JSONResponse({"detail": f"body: request body larger than {limit} bytes"}, status_code=413)
    return await call_next(request)


api.include_router(router)  # /v1/translate (before @serve.ingress reads the routes; it guards itself with authorize)


@serve.deployment
@serve.ingress(api)
class Ingress(TranslateRoutes):
    """Validates requests, routes them to the generator deployment, returns PNG/JSON (translate: the mixin)."""

    def __init__(self, generator, keys: list[str], token_sha256: Optional[str], limits: dict, page: str):
        self.keys, self.page, self.generator = keys, page, generator
        self.handles = {key: generator.options(multiplexed_model_id=key) for key in keys}  # routed to replicas holding it
        api.state.token_sha256 = token_sha256
        api.state.max_body_bytes, api.state.max_image_bytes = limits["max_body_bytes"], limits["max_image_bytes"]
        self.max_image_pixels = limits["max_image_pixels"]
        self.infos: dict[str, dict] = {}

    async def _info(self, name: Optional[str], task: Optional[str] = None) -> dict:
        """The named model's description; unnamed: the first model of ``task`` (else the first model)."""
        key = name or await self._first_of(task)
        if key not in self.keys:
            raise HTTPException(404, f"model: unknown model {key!r}; loaded: {', '.join(self.keys)}")
        if key not in self.infos:
            info = await answered_within(self.handles[key].info.remote(key), FIRST_USE_TIMEOUT_S)
            if info is None:
                problem = await asyncio.to_thread(generator_problem)
                raise HTTPException(503, f"model: {key!r} is not being served: {problem}", {"Retry-After": "10"})
            self.infos[key] = info
        return self.infos[key]

    async def _first_of(self, task: Optional[str]) -> str:
        """The default model of a route: the first configured model of its task (else the first)."""
        for key in self.keys if task else ():
            if (await self._info(key))["task"] == task:
                return key
        return self.keys[0]

    @staticmethod
    def _check_class(info: dict, class_id: Optional[int]) -> None:
        if class_id is None:
            return
        if not info["num_classes"]:
            raise HTTPException(422, f"class_id: model {info['name']!r} is unconditional; leave class_id out")
        if class_id >= info["num_classes"]:
            raise HTTPException(422, f"class_id: {class_id} out of range 0..{info['num_classes'] - 1}")

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def playground(self) -> HTMLResponse:
        return HTMLResponse(self.page)

    @api.get("/healthz", responses={503: {"description": "a configured model is not loaded (yet); detail says why"}})
    async def healthz(self) -> JSONResponse:
        """Readiness: 200 once a generator replica holds every configured model, else 503 and why."""
        if await answered_within(self.generator.ready.remote(), READY_TIMEOUT_S) is None:
            detail = await asyncio.to_thread(generator_problem)
            return JSONResponse({"status": "unavailable", "models": self.keys, "detail": detail}, status_code=503)
        return JSONResponse({"status": "ok", "models": self.keys})

    @api.get("/v1/models", dependencies=[Depends(authorize)])
    async def models(self) -> dict:
        """The loaded generators: name, version, run id, resolution, classes, metrics."""
        return {"default": self.keys[0], "models": [await self._info(key) for key in self.keys]}

    @api.post("/v1/generate", dependencies=[Depends(authorize)],
              responses={200: {"content": {"image/png": {}, "application/json": {}}}})
    async def generate(self, body: GenerateRequest) -> Response:
        """n images for a seed: one PNG, a PNG grid, or JSON with base64 PNGs."""
        info = await self._info(body.model, "generate")
        require_task(info, "generate", "/v1/generate")
        self._check_class(info, body.class_id)
        if body.format == "png" and body.n != 1:
            raise HTTPException(422, "n: format 'png' returns one image; use 'grid' or 'json' for n > 1")
        job = {**body.model_dump(), "model": info["name"]}
        reply = await self.handles[info["name"]].generate.remote(job)
        if "png" in reply:
            return Response(reply["png"], media_type="image/png")
        return JSONResponse({"model": info["name"], "format": "png", **reply})

    @api.post("/v1/interpolate", dependencies=[Depends(authorize)],
              responses={200: {"content": {"image/png": {}}}})
    async def interpolate(self, body: InterpolateRequest) -> Response:
        """A strip of images between two seeds (Z slerp, or W lerp for style-based generators)."""
        info = await self._info(body.model, "generate")
        require_task(info, "generate", "/v1/interpolate")
        self._check_class(info, body.class_id)
        if body.space == "w" and not info["style_based"]:
            raise HTTPException(400, f"space: model {info['name']!r} is not style-based; W interpolation needs "
                                     "mapping/synthesis, use space 'z'")
        job = {**body.model_dump(), "model": info["name"]}
        png = await self.handles[info["name"]].interpolate.remote(job)
        return Response(png, media_type="image/png")


# ---------------------------------------------------------------- app builder
def build_app(args: ServeArgs | dict) -> serve.Application:
    """The application for ``serve run``/``serve deploy``/``ganforge serve``: ingress + generators."""
    import sys

    import ray.cloudpickle

    # Replicas get the `serving` package (this module, images, translate) by value: they need not
    # import it (not installed; a Ray instance started without the repository on its path, or a
    # cluster node). Registering the package covers its submodules.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__.rpartition(".")[0] or __name__])
    from ganforge.tracking import resolve_tracking_uri

    args = args if isinstance(args, ServeArgs) else ServeArgs(**args)
    tracking_uri = args.tracking_uri or resolve_tracking_uri()  # absolute: replicas run in other directories
    sources = pinned_sources(named_sources(args.models), tracking_uri)
    token = read_token(args.token_env, args.token_file)
    token_sha256 = hashlib.sha256(token.encode()).hexdigest() if token else None  # the token never leaves here
    scaling: dict[str, Any] = {"num_replicas": args.num_replicas}
    if args.autoscaling_config:
        scaling = {"num_replicas": "auto", "autoscaling_config": args.autoscaling_config}
    generator = GeneratorServer.options(
        # @serve.batch only fills batches when this is at least max_batch_size (STACK-NOTES).
        max_ongoing_requests=max(2 * args.max_batch_size, 8),
        ray_actor_options={"num_cpus": args.num_cpus, "num_gpus": args.num_gpus}, **scaling,
    ).bind(sources, tracking_uri, args.batching, args.max_batch_size, args.batch_wait_timeout_s)
    page = (STATIC_DIR / "index.html").read_text()
    limits = args.model_dump(include={"max_body_bytes", "max_image_bytes", "max_image_pixels"})
    return Ingress.options(max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.1}).bind(
        generator, list(sources), token_sha256, limits, page)


app = build_app  # `serve run serving.app:app models=...` calls the builder with the CLI's key=value args
