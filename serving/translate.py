"""POST /v1/translate: one image in, a translation model's output image out (PNG).

Paired models (pix2pix, SRResNet, SRGAN) translate one way; unpaired models (CycleGAN) both ways,
chosen with ``?direction=a2b`` (the default: domain A -> B) or ``?direction=b2a``.

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
ROUTES = {"generate": "/v1/generate", "paired": TRANSLATE_PATH, "unpaired": TRANSLATE_PATH}  # each task's route
TRANSLATORS = ("paired", "unpaired")  # the tasks /v1/translate serves
DIRECTIONS = ("a2b", "b2a")
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


def describe_task(generator) -> dict:
    """What GET /v1/models says about a model's task: input shape [C, h, w] and scale for paired
    models (None for generators, whose input is a latent of ``z_dim``); for unpaired models also
    ``directions``: {a2b|b2a: {input_shape, output_shape}} (input_shape is a2b's).

    The task is the generator's own (``generator.task``, as for its MLflow pyfunc), not the spec's
    that trained it: an adapted generator (spec task ``adapt``) is a G(z) like any other."""
    task = getattr(generator, "task", "generate")
    if task == "unpaired":
        directions = {way: {"input_shape": [int(s) for s in shapes[0]], "output_shape": [int(s) for s in shapes[1]]}
                      for way, shapes in generator.shapes.items()}
        return {"task": task, "input_shape": directions["a2b"]["input_shape"], "scale": 1, "directions": directions}
    paired = task == "paired"
    return {"task": task, "input_shape": [int(s) for s in generator.input_shape] if paired else None,
            "scale": int(generator.scale) if paired else None}


def require_translator(info: dict) -> None:
    """422 naming the right route when the model is not a translation model."""
    if info["task"] not in TRANSLATORS:
        right = ROUTES.get(info["task"], f"none (task {info['task']!r} is not served)")
        raise HTTPException(422, f"model: {info['name']!r} is a {info['task']} model; {TRANSLATE_PATH} serves "
                                 f"{' and '.join(TRANSLATORS)} models, use {right}")


def input_shape_for(info: dict, direction: Optional[str]) -> tuple[list[int], Optional[str]]:
    """(the input shape of the asked direction, the direction to run: None for a paired model);
    422 when a paired model is given a direction."""
    if direction is not None and direction not in DIRECTIONS:
        raise HTTPException(422, f"direction: {direction!r} is not one of {', '.join(DIRECTIONS)}")
    if info["task"] == "unpaired":
        way = direction or DIRECTIONS[0]
        return info["directions"][way]["input_shape"], way
    if direction is not None:
        raise HTTPException(422, f"direction: model {info['name']!r} is a paired model and translates one way; "
                                 "leave direction out (unpaired models take a2b or b2a)")
    return info["input_shape"], None


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
        422: {"description": "a mode the model cannot take, a model of another task, or a direction a paired "
                             "model does not take"}})
    async def translate(self, request: Request, model: Optional[str] = Query(
            None, description="which translation model (GET /v1/models) for a raw image body; multipart and JSON "
                              "bodies may name it in their own 'model' field; default: the first paired or "
                              "unpaired model"),
            direction: Optional[str] = Query(
                None, description="unpaired models (CycleGAN): a2b (domain A -> B, the default) or b2a (a JSON or "
                                  "multipart body may name it in its own 'direction' field); paired models take none", json_schema_extra={"enum": list(DIRECTIONS)})) -> Response:
        """Translate one image with a paired model (pix2pix, SRResNet, SRGAN), or either way with an
        unpaired one (CycleGAN, ``direction``); the output as PNG.

        The image is fitted to the model's input size (GET /v1/models: input_shape, or directions.<d>.input_shape):
        converted to its channels where unambiguous, bicubic-scaled to cover it, centre-cropped."""
        try:
            data, fields = read_upload(await request.body(), request.headers.get("content-type"))
            info = await self._info(fields.get("model") or model or await self._first_translator())
            require_translator(info)
            shape, way = input_shape_for(info, fields.get("direction") or direction)
            x = await asyncio.to_thread(model_input, data, shape, self.max_image_pixels)
        except ImageProblem as problem:
            raise HTTPException(problem.status, problem.detail) from None
        job = {"model": info["name"], "x": x, "direction": way}
        png = await self.handles[info["name"]].translate.remote(job)
        return Response(png, media_type="image/png")

    async def _first_translator(self) -> str:
        """The route's default model: the first configured paired or unpaired model (else the first)."""
        for key in self.keys:
            if (await self._info(key))["task"] in TRANSLATORS:
                return key
        return self.keys[0]


class TranslateServing:
    """Generator-deployment mixin: batched forwards of translation models. Needs ``self.load`` and ``self.batching``."""

    async def translate(self, job: dict) -> bytes:
        """One translate job ({"model", "x": [C, h, w], "direction": None | a2b | b2a}) -> PNG bytes
        (batched across clients when on)."""
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
    """One forward per (model, direction) over all its jobs' inputs, then one PNG per job (eval
    mode: a job's output does not depend on what else shares the batch)."""
    import torch

    replies: list[Optional[bytes]] = [None] * len(jobs)
    groups = dict.fromkeys((job["model"], job.get("direction")) for job in jobs)  # as asked, in order
    for key, direction in groups:
        generator = models[key]
        index = [i for i, job in enumerate(jobs) if (job["model"], job.get("direction")) == (key, direction)]
        device = next(generator.parameters()).device
        batch = torch.stack([jobs[i]["x"] for i in index]).to(device)
        with torch.no_grad():
            outputs = (generator(batch) if direction is None else generator(batch, direction)).float().cpu()
        for i, output in zip(index, outputs):
            replies[i] = to_png(output[None])
    return replies
