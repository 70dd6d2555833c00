"""POST /v1/translate on 127.0.0.1: paired models (a pix2pix and an x2 SRResNet checkpoint) and an
unpaired CycleGAN (grey A <-> RGB B, both directions) beside a generator in one Serve app with token auth on (as a server beyond loopback runs), started once
for the module. (Loading a registered paired model is
the generator file's path as for any model; test_pyfunc_models.py registers every paired family.)

Good input in each form (raw PNG/JPEG body, multipart upload, JSON base64) gives G(x) of the
loaded generator on the input fitted by the documented rule; each kind of bad input gets the 4xx
that names it; GET /v1/models states task, input shape and scale; the playground's translate
panel works in headless chromium.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
import torch
from chromium import Page, chromium_page
from PIL import Image
from registered_model import save_tiny_cyclegan, save_tiny_generator, save_tiny_translator

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS = 300_000, 512 * 512  # small limits, so over-limit bodies stay small
TOKEN = "translate-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def app(ray_session, tmp_path_factory):
    """(base URL, {name: generator file}): pix and sr (paired), gen (generate), cyc (unpaired), checkpoint dirs.
    Serve starts once for the module."""
    from ray import serve

    from conftest import free_port
    from ganforge.commands.serve import serving_module

    root = tmp_path_factory.mktemp("serve-translate")
    files = {"pix": save_tiny_translator(root / "pix", "pix2pix"), "sr": save_tiny_translator(root / "sr", "srresnet"),
             "gen": save_tiny_generator(root / "gen"), "cyc": save_tiny_cyclegan(root / "cyc")}
    (root / "token").write_text(TOKEN)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(serving_module().build_app({
        "models": {name: str(file.parent) for name, file in files.items()}, "num_cpus": 0.5, "max_batch_size": 8,
        "token_file": str(root / "token"),
        "max_image_bytes": MAX_IMAGE_BYTES, "max_image_pixels": MAX_IMAGE_PIXELS}), name="translate", route_prefix="/")
    yield f"http://127.0.0.1:{port}", files
    serve.shutdown()


@pytest.fixture(scope="module")
def generators(app):
    """The served weights, loaded here: {name: G in eval mode}."""
    from ganforge.sampling import load_generator

    return {name: load_generator(str(file.parent)).generator for name, file in app[1].items()}


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def photo(width: int = 32, height: int = 32, mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A seeded random image (noise: every pixel matters, so a wrong fit or conversion shows)."""
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(array[..., 0] if channels == 1 else array, mode)


def expected(generator, image: Image.Image) -> np.ndarray:
    """What G makes of an image already of its input size and mode, as 8-bit HWC (or HW)."""
    array = np.asarray(image, dtype=np.float32)
    x = torch.from_numpy(array[..., None] if array.ndim == 2 else array).permute(2, 0, 1)[None] / 127.5 - 1
    with torch.no_grad():
        y = generator(x)[0]
    pixels = ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return pixels[..., 0] if pixels.shape[2] == 1 else pixels


def output(response: requests.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def close(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to one 8-bit level (float rounding of another thread count in the replica)."""
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def post(url: str, **kwargs) -> requests.Response:
    """POST with the app's bearer token."""
    return requests.post(url, headers={**AUTH, **kwargs.pop("headers", {})}, timeout=60, **kwargs)


def raw(url: str, data: bytes, content_type: str = "image/png", model: str | None = "pix") -> requests.Response:
    return post(f"{url}/v1/translate", data=data, headers={"content-type": content_type},
                params={"model": model} if model else None)


def as_json(url: str, data: bytes, model: str = "pix") -> requests.Response:
    return post(f"{url}/v1/translate", json={"image": base64.b64encode(data).decode(), "model": model})


def multipart(url: str, data: bytes, model: str = "pix", mime: str = "image/png") -> requests.Response:
    return post(f"{url}/v1/translate", files={"image": ("in.png", data, mime)}, data={"model": model})


# ------------------------------------------------------------------ good input
def test_each_form_of_upload_returns_G_of_the_image(app, generators):
    url, image = app[0], photo()
    want = expected(generators["pix"], image)
    for send in (raw, as_json, multipart):
        close(output(send(url, encoded(image))), want)
    jpeg = encoded(image, "JPEG")
    close(output(raw(url, jpeg, "image/jpeg")), expected(generators["pix"], Image.open(io.BytesIO(jpeg)).convert("RGB")))
    assert (output(raw(url, encoded(photo(seed=1)))) != want).any(), "another image gave the same output"


def test_each_route_defaults_to_its_first_model_of_its_task(app, generators):
    """Models pix, sr, gen: /v1/translate without a model is pix's; /v1/generate's is gen's."""
    url, image = app[0], photo()
    close(output(raw(url, encoded(image), model=None)), expected(generators["pix"], image))
    assert output(post(f"{url}/v1/generate", json={"seed": 1})).shape == (32, 32)  # gen: 1 channel


def test_a_larger_image_is_scaled_to_cover_then_centre_cropped(app, generators):
    """64 x 40 -> bicubic to 51 x 32 (covers 32 x 32, aspect kept) -> the centre 32 x 32."""
    image = photo(64, 40)
    fitted = image.resize((51, 32), Image.Resampling.BICUBIC).crop((9, 0, 41, 32))
    close(output(raw(app[0], encoded(image))), expected(generators["pix"], fitted))


def test_unambiguous_modes_are_converted(app, generators):
    """RGBA -> RGB drops alpha (not composited); L -> RGB repeats grey; RGB -> L (luma) for a 1-channel model."""
    url, rgb = app[0], photo()
    transparent = rgb.copy()
    transparent.putalpha(0)
    close(output(raw(url, encoded(transparent))), expected(generators["pix"], rgb))
    grey = photo(mode="L")
    close(output(raw(url, encoded(grey))), expected(generators["pix"], grey.convert("RGB")))
    small = photo(16, 16)
    upscaled = output(raw(url, encoded(small), model="sr"))
    assert upscaled.shape == (32, 32)  # x2, one channel
    close(upscaled, expected(generators["sr"], small.convert("L")))


def test_models_state_task_input_shape_and_scale(app):
    models = {m["name"]: m for m in requests.get(f"{app[0]}/v1/models", headers=AUTH, timeout=60).json()["models"]}
    assert {k: (m["task"], m["input_shape"], m["scale"], m["resolution"], m["channels"]) for k, m in models.items()} == {
        "pix": ("paired", [3, 32, 32], 1, [32, 32], 3), "sr": ("paired", [1, 16, 16], 2, [32, 32], 1),
        "gen": ("generate", None, None, [32, 32], 1), "cyc": ("unpaired", [1, 16, 16], 1, [16, 16], 3)}
    assert models["pix"]["model"] == "pix2pix" and models["sr"]["model"] == "srresnet"
    assert models["cyc"]["directions"] == {"a2b": {"input_shape": [1, 16, 16], "output_shape": [3, 16, 16]},
                                           "b2a": {"input_shape": [3, 16, 16], "output_shape": [1, 16, 16]}}


def directed(url: str, data: bytes, direction: str | None, model: str = "cyc") -> requests.Response:
    params = {"model": model, **({"direction": direction} if direction else {})}
    return post(f"{url}/v1/translate", data=data, headers={"content-type": "image/png"}, params=params)


def expected_way(generator, image: Image.Image, direction: str) -> np.ndarray:
    """What an unpaired model makes of an image of the direction's input size and mode."""
    return expected(lambda x: generator(x, direction), image)


def test_an_unpaired_model_translates_both_ways(app, generators):
    """cyc: a2b (the default) takes grey and answers RGB, b2a takes RGB and answers grey; an RGB
    upload to a2b is converted to grey by the fit rule."""
    url, grey, rgb = app[0], photo(16, 16, "L"), photo(16, 16)
    a2b = output(directed(url, encoded(grey), "a2b"))
    assert a2b.shape == (16, 16, 3)
    close(a2b, expected_way(generators["cyc"], grey, "a2b"))
    close(output(directed(url, encoded(grey), None)), a2b)
    b2a = output(directed(url, encoded(rgb), "b2a"))
    assert b2a.shape == (16, 16)
    close(b2a, expected_way(generators["cyc"], rgb, "b2a"))
    close(output(directed(url, encoded(rgb), "a2b")), expected_way(generators["cyc"], rgb.convert("L"), "a2b"))


def test_json_and_form_bodies_name_the_direction_in_their_own_field(app):
    """As they name the model: a body's "direction" field is the query parameter's equal."""
    url, rgb = app[0], photo(16, 16)
    b2a = output(directed(url, encoded(rgb), "b2a"))
    by_json = post(f"{url}/v1/translate", json={"image": base64.b64encode(encoded(rgb)).decode(), "model": "cyc",
                                                "direction": "b2a"})
    by_form = post(f"{url}/v1/translate", files={"image": ("in.png", encoded(rgb), "image/png")},
                   data={"model": "cyc", "direction": "b2a"})
    close(output(by_json), b2a)
    close(output(by_form), b2a)


def test_jobs_of_both_directions_share_a_batch_without_mixing(tmp_path):
    """translate_jobs runs one forward per (model, direction): each job gets what it gets alone."""
    from ganforge.commands.serve import serving_module
    from ganforge.sampling import load_generator

    serving_module()
    from serving.translate import translate_jobs

    models = {"cyc": load_generator(str(save_tiny_cyclegan(tmp_path / "cyc").parent)).generator}
    jobs = [{"model": "cyc", "x": torch.rand(1, 16, 16), "direction": "a2b"},
            {"model": "cyc", "x": torch.rand(3, 16, 16), "direction": "b2a"},
            {"model": "cyc", "x": torch.rand(1, 16, 16), "direction": "a2b"}]
    together = translate_jobs(models, jobs)
    assert together == [translate_jobs(models, [job])[0] for job in jobs]


def test_concurrent_clients_are_batched_without_changing_anyone_s_output(app, generators):
    url = app[0]
    images = [photo(seed=i) for i in range(24)]
    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda image: raw(url, encoded(image)), images))
    for image, reply in zip(images, replies):
        close(output(reply), expected(generators["pix"], image))


def test_a_job_s_output_does_not_depend_on_what_shares_its_batch(tmp_path):
    """translate_jobs (the batched forward) gives each job what it gives the job alone."""
    from ganforge.commands.serve import serving_module
    from ganforge.sampling import load_generator

    serving_module()  # puts the checkout's serving/ on the path
    from serving.translate import translate_jobs

    x = [torch.rand(3, 32, 32) * 2 - 1 for _ in range(6)]
    small = torch.rand(1, 16, 16) * 2 - 1
    models = {name: load_generator(str(save_tiny_translator(tmp_path / name, family).parent)).generator
              for name, family in (("pix", "pix2pix"), ("sr", "srresnet"))}
    alone = translate_jobs(models, [{"model": "pix", "x": x[2]}])[0]
    batch = translate_jobs(models, [{"model": "sr", "x": small}] + [{"model": "pix", "x": t} for t in x])
    assert batch[3] == alone and batch[0] == translate_jobs(models, [{"model": "sr", "x": small}])[0]


# ------------------------------------------------------------------ bad input
def _truncated() -> bytes:
    data = encoded(photo())
    return data[: len(data) // 2]


def _cmyk_jpeg() -> bytes:
    return encoded(photo().convert("CMYK"), "JPEG")


def _grey16() -> bytes:
    return encoded(Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16)))


BAD = [  # (id, send(url) -> response, status, what the message names)
    ("not-an-image", lambda url: raw(url, b"hello, not a picture"), 400, "not a PNG or JPEG"),
    ("gif", lambda url: raw(url, encoded(photo(), "GIF")), 400, "not a PNG or JPEG"),
    ("truncated-png", lambda url: raw(url, _truncated()), 400, "truncated"),
    ("truncated-multipart", lambda url: multipart(url, _truncated()), 400, "truncated"),
    ("empty", lambda url: raw(url, b""), 400, "empty"),
    ("bad-base64", lambda url: post(f"{url}/v1/translate", json={"image": "%%%", "model": "pix"}),
     400, "base64"),
    ("bad-json", lambda url: raw(url, b'{"image": ', "application/json"), 400, "JSON"),
    ("json-without-image", lambda url: post(f"{url}/v1/translate", json={"model": "pix"}), 422, "image"),
    ("form-without-file", lambda url: post(f"{url}/v1/translate", files={"model": (None, "pix")}),
     422, "form field 'image'"),
    ("over-bytes", lambda url: raw(url, b"\x89PNG" + b"0" * MAX_IMAGE_BYTES), 413, f"larger than {MAX_IMAGE_BYTES} bytes"),
    ("over-pixels", lambda url: raw(url, encoded(Image.new("RGB", (1024, 1024)))), 413, f"limit of {MAX_IMAGE_PIXELS}"),
    ("cmyk", lambda url: raw(url, _cmyk_jpeg(), "image/jpeg"), 422, "mode CMYK"),
    ("16-bit-grey", lambda url: raw(url, _grey16()), 422, "mode I;16"),
    ("text-body", lambda url: raw(url, b"hi", "text/plain"), 415, "text/plain"),
    ("unknown-model", lambda url: raw(url, encoded(photo()), model="nope"), 404, "loaded: pix, sr, gen"),
    ("translate-a-generator", lambda url: raw(url, encoded(photo()), model="gen"), 422, "use /v1/generate"),
    ("generate-a-translator", lambda url: post(f"{url}/v1/generate", json={"model": "sr"}),
     422, "use /v1/translate"),
    ("interpolate-a-translator", lambda url: post(f"{url}/v1/interpolate", json={"model": "pix", "seed_a": 1, "seed_b": 2}),
     422, "'pix' is a paired model"),
    ("direction-for-a-paired-model", lambda url: directed(url, encoded(photo()), "b2a", model="pix"),
     422, "translates one way"),
    ("unknown-direction", lambda url: directed(url, encoded(photo(16, 16, "L")), "sideways"), 422, "a2b"),
    ("generate-an-unpaired-model", lambda url: post(f"{url}/v1/generate", json={"model": "cyc"}),
     422, "use /v1/translate"),
]


@pytest.mark.parametrize("send,status,named", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gets_a_4xx_naming_the_problem(app, send, status, named):
    response = send(app[0])
    assert response.status_code == status, response.text
    assert named in response.json()["detail"], response.text


def test_translate_needs_the_token_when_auth_is_on(app):
    url, image = app[0], encoded(photo())
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = requests.post(f"{url}/v1/translate", data=image, headers={"content-type": "image/png", **headers},
                                 timeout=60)
        assert response.status_code == 401 and "bearer token" in response.text, response.text


def test_openapi_documents_the_three_upload_forms_and_the_fit_rule(app):
    operation = requests.get(f"{app[0]}/openapi.json", timeout=30).json()["paths"]["/v1/translate"]["post"]
    body = operation["requestBody"]
    assert body["content"].keys() >= {"image/png", "image/jpeg", "multipart/form-data", "application/json"}
    assert "centre-cropped" in body["description"] and "bicubic" in body["description"]


# ------------------------------------------------------------------ the playground's translate panel
async def _upload_and_translate(ws_url: str, url: str, upload: Path, shot: Path) -> dict:
    async with Page(ws_url) as page:
        await page.call("Page.navigate", url=url)
        await page.wait_for("document.getElementById('error').textContent.includes('401')")  # no token yet
        await page.evaluate(f"(() => {{ const t = document.getElementById('token'); t.value = '{TOKEN}';"
                            " t.dispatchEvent(new Event('change')); })()")  # as typing it does
        assert await page.wait_for("document.getElementById('tmodel').options.length === 2"), "no translation models listed"
        assert await page.evaluate("document.getElementById('model').options.length") == 1  # generate models only
        await page.set_file("#upload", upload)
        await page.click("translate")
        loaded = await page.wait_for("document.getElementById('translated').dataset.loaded === '1'")
        await page.screenshot(shot)
        state = {"loaded": loaded}
        for key, expression in (("hidden", "translate-panel').hidden"), ("error", "error').textContent"),
                                ("width", "translated').naturalWidth"), ("size", "insize').textContent"),
                                ("rule", "rule').textContent")):
            state[key] = await page.evaluate(f"document.getElementById('{expression}")
        return state


def test_playground_uploads_and_translates_in_headless_chromium(app, tmp_path):
    import os

    upload = tmp_path / "upload.png"
    photo(48, 40).save(upload)
    artifacts = Path(os.environ.get("GANFORGE_TEST_ARTIFACTS", REPO / "artifacts" / "tests"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "playground-translate.png"
    with chromium_page() as ws_url:
        state = asyncio.run(_upload_and_translate(ws_url, f"{app[0]}/", upload, shot))
    assert state["loaded"] and not state["error"], (state, f"screenshot: {shot}")
    assert not state["hidden"] and state["width"] == 32, state
    assert "32x32, RGB in" in state["size"] and "centre-cropped" in state["rule"], state
