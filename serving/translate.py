"""POST /v1/translate: one image in, the paired model's output image out (PNG).

The image comes as a raw ``image/png`` / ``image/jpeg`` body (``?model=`` picks the model), a
``multipart/form-data`` upload (file field ``image``, text field ``model``), or JSON
``{"image": "<base64>", "model": "..."}``. It is decoded within the server's byte and pixel limits,
converted to the model's channels where that is unambiguous, and fitted to the model's input size
by the rule in serving/images.py (bicubic scale to cover, centre crop). Requests from all clients
are batched per replica with ``@serve.batch``, as /v1/generate's are.

The route is a mixin of the ingress (:class:`TranslateRoutes`), the batched forward a mixin of the
generator deployment (:class:`TranslateServing`): app.py wires both.
"""

import asyncio
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from ray import serve

from serving.auth import authorize
from serving.images import ImageProblem, model_input, read_upload, to_png

TRANSLATE_PATH = "/v1/translate"
ROUTES = {"generate": "/v1/generate", "paired": TRANSLATE_PATH}  # the route that serves each task's models
FIT_RULE = ("The image is converted to the model's channels where that is unambiguous (RGBA/LA/P/L -> RGB "
            "drops alpha or repeats grey; RGB -> L by ITU-R 601 luma for a 1-channel model), scaled with "
            "bicubic resampling to cover the model's input size (aspect ratio kept), then centre-cropped to it.")
router = APIRouter()

BODY_DOC = {"requestBody": {"required": True, "description": FIT_RULE, "content": {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "format": "binary"}, "model": {"type": "string"}}}},
    "application/json": {"schema": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "description": "base64 PNG or JPEG (a data: URL is accepted)"},
        "model": {"type": "string"}}}},
}}}


def describe_task(generator, task: str) -> dict:
    """What GET /v1/models says about a model's task: input shape [C, h, w] and scale for paired
    models (None for generators, whose input is a latent of ``z_dim``)."""
    paired = task == "paired"
    return {"task": task, "input_shape": [int(s) for s in generator.input_shape] if paired else None,
            "scale": int(generator.scale) if paired else None}


def require_task(info: dict, task: str, route: str) -> None:
    """422 naming the right route when ``route`` does not serve the model's task."""
    if info["task"] != task:
        right = ROUTES.get(info["task"], f"none (task {info['task']!r} is not served)")
        raise HTTPException(422, f"model: {info['name']!r} is a {info['task']} model; {route} serves {task} "
                                 f"models, use {right}")


def body_limit(request: Request) -> int:
    """The byte limit of a request: images (max_image_bytes) on /v1/translate, else max_body_bytes."""
    state = request.app.state
    if request.url.path.endswith(TRANSLATE_PATH):
        return getattr(state, "max_image_bytes", 8 * 2**20)
    return getattr(state, "max_body_bytes", 16384)


class TranslateRoutes:
    """Ingress mixin: POST /v1/translate. Needs ``self._info``, ``self.handles``, ``self.max_image_pixels``."""

    # The dependency sits on the route: Serve's class-based view re-mounts routes and drops an
    # include_router(dependencies=...) (the route then answered without the token).
    @router.post(TRANSLATE_PATH, dependencies=[Depends(authorize)], openapi_extra=BODY_DOC, responses={
        200: {"content": {"image/png": {}}, "description": "the translated image"},
        400: {"description": "not a PNG/JPEG image, truncated, bad base64 or JSON"},
        413: {"description": "over the byte or pixel limit"}, 415: {"description": "content type not accepted"},
        422: {"description": "a mode the model cannot take, or a model of another task"}})
    async def translate(self, request: Request, model: Optional[str] = Query(
            None, description="which paired model (GET /v1/models) for a raw image body; multipart and JSON "
                              "bodies may name it in their own 'model' field; default: the first paired model")) -> Response:
        """Translate one image with a paired model (pix2pix, SRResNet, SRGAN); the output as PNG.

        The image is fitted to the model's input size (GET /v1/models: input_shape): converted to its
        channels where unambiguous, bicubic-scaled to cover it, centre-cropped."""
        try:
            data, fields = read_upload(await request.body(), request.headers.get("content-type"))
            info = await self._info(fields.get("model") or model, "paired")
            require_task(info, "paired", TRANSLATE_PATH)
            x = await asyncio.to_thread(model_input, data, info["input_shape"], self.max_image_pixels)
        except ImageProblem as problem:
            raise HTTPException(problem.status, problem.detail) from None
        png = await self.handles[info["name"]].translate.remote({"model": info["name"], "x": x})
        return Response(png, media_type="image/png")


class TranslateServing:
    """Generator-deployment mixin: batched forwards of paired models. Needs ``self.load`` and ``self.batching``."""

    async def translate(self, job: dict) -> bytes:
        """One translate job ({"model", "x": [C, h, w]}) -> PNG bytes (batched across clients when on)."""
        if self.batching:
            return await self.translate_batch(job)
        return (await self._translate([job]))[0]

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)  # replaced per replica from ServeArgs
    async def translate_batch(self, jobs: list[dict]) -> list[bytes]:
        return await self._translate(jobs)

    async def _translate(self, jobs: list[dict]) -> list[bytes]:
        models = {key: (await self.load(key))[0] for key in {job["model"] for job in jobs}}
        return await asyncio.to_thread(translate_jobs, models, jobs)


def translate_jobs(models: dict, jobs: list[dict]) -> list[bytes]:
    """One forward per model over all its jobs' inputs, then one PNG per job (eval mode: a job's
    output does not depend on what else shares the batch)."""
    import torch

    replies: list[Optional[bytes]] = [None] * len(jobs)
    for key in dict.fromkeys(job["model"] for job in jobs):  # the models asked for, in order
        generator, index = models[key], [i for i, job in enumerate(jobs) if job["model"] == key]
        device = next(generator.parameters()).device
        with torch.no_grad():
            outputs = generator(torch.stack([jobs[i]["x"] for i in index]).to(device)).float().cpu()
        for i, output in zip(index, outputs):
            replies[i] = to_png(output[None])
    return replies
