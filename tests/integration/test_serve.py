"""The Serve application on 127.0.0.1: a checkpoint dir and registered models (a version, `latest`,
an alias) behind one endpoint.

Serve starts once for the module (two apps: open at /, token-protected at /secure) and serves every
test; the start-up failure test adds a third app and deletes it; Serve is shut down at the end.
The playground test drives Debian's headless chromium over CDP (scripts/setup.sh installs it).
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image
from registered_model import save_tiny_generator, tiny_registry

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "s3cret-token"
ARTIFACTS = Path(os.environ.get("GANFORGE_TEST_ARTIFACTS", REPO / "artifacts" / "tests"))  # /artifacts/ is git-ignored


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


MODELS = ["cond", "tiny/1", "tiny/latest", "tiny@champion"]  # public names of the open app's generators


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """models:/tiny: version 1 (alias champion, its run's fid 100.0) and version 2 (fid 101.0)."""
    return tiny_registry(tmp_path_factory.mktemp("serve-store"))


@pytest.fixture(scope="module")
def server(ray_session, registry, tmp_path_factory):
    """Base URL of the open app (a conditional checkpoint dir, then tiny as /1, /latest and @champion);
    the checkpoint with token auth lives under /secure. Serve starts once for the whole module."""
    from ray import serve

    from ganforge.commands.serve import serving_module

    root = tmp_path_factory.mktemp("serve")
    cond = save_tiny_generator(root / "cond", num_classes=10).parent
    (root / "token").write_text(TOKEN + "\n")
    build = serving_module().build_app
    port = _port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    common = {"tracking_uri": registry.uri, "num_cpus": 0.5, "max_batch_size": 8}
    models = [str(cond), "models:/tiny/1", "models:/tiny/latest", "models:/tiny@champion"]
    serve.run(build({"models": models, **common}), name="open", route_prefix="/")
    serve.run(build({"models": [str(cond)], "token_file": str(root / "token"), **common}), name="secure", route_prefix="/secure")
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=30).status_code
    except requests.RequestException:
        return None


def _generate(server: str, **body) -> requests.Response:
    return requests.post(f"{server}/v1/generate", json=body, timeout=60)


def _image(response: requests.Response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_png_and_grid_decode_to_the_right_size(server):
    assert _image(_generate(server, seed=1)).size == (32, 32)
    assert _image(_generate(server, model="tiny/1", seed=1)).size == (32, 32)
    # make_grid: 2 per row, 2 px padding around each image
    assert _image(_generate(server, n=4, format="grid")).size == (2 * 34 + 2, 2 * 34 + 2)


def test_json_format_returns_base64_pngs_and_the_seed(server):
    response = _generate(server, n=3, seed=5, format="json", class_id=2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["seed"] == 5 and body["model"] == "cond" and len(body["images"]) == 3
    assert Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).size == (32, 32)


def test_same_seed_same_bytes_and_truncation_changes_the_output(server):
    first, again = _generate(server, seed=11, n=4, format="grid"), _generate(server, seed=11, n=4, format="grid")
    assert first.content == again.content
    assert _generate(server, seed=12, n=4, format="grid").content != first.content
    assert _generate(server, seed=11, n=4, format="grid", truncation=0.3).content != first.content


def test_interpolation_strip_and_w_space_refused_for_dcgan(server):
    response = requests.post(f"{server}/v1/interpolate", json={"seed_a": 1, "seed_b": 2, "steps": 5}, timeout=60)
    assert _image(response).size == (5 * 34, 34)
    response = requests.post(f"{server}/v1/interpolate", json={"seed_a": 1, "seed_b": 2, "space": "w"}, timeout=60)
    assert response.status_code == 400 and "space" in response.text


def test_models_and_healthz(server, registry):
    health = requests.get(f"{server}/healthz", timeout=30)
    assert health.status_code == 200 and health.json() == {"status": "ok", "models": MODELS}
    models = {m["name"]: m for m in requests.get(f"{server}/v1/models", timeout=60).json()["models"]}
    assert models["cond"]["num_classes"] == 10 and models["cond"]["resolution"] == [32, 32]
    assert models["tiny/1"]["version"] == "1" and models["tiny/1"]["run_id"] == registry.runs[0]
    assert models["tiny/1"]["metrics"] == {"fid": 100.0} and models["tiny/1"]["num_classes"] == 0


def test_latest_and_alias_serve_the_versions_mlflow_resolves(server, registry):
    """models:/tiny/latest is the highest version (2), models:/tiny@champion the alias's (1)."""
    models = {m["name"]: m for m in requests.get(f"{server}/v1/models", timeout=60).json()["models"]}
    assert (models["tiny/latest"]["version"], models["tiny/latest"]["run_id"]) == ("2", registry.runs[1])
    assert models["tiny/latest"]["source"] == "models:/tiny/2" and models["tiny/latest"]["metrics"] == {"fid": 101.0}
    assert (models["tiny@champion"]["version"], models["tiny@champion"]["run_id"]) == ("1", registry.runs[0])
    grids = {name: _generate(server, model=name, seed=4, n=4, format="grid") for name in ("tiny/1", "tiny/latest", "tiny@champion")}
    assert all(response.status_code == 200 for response in grids.values()), {k: r.text for k, r in grids.items()}
    assert grids["tiny@champion"].content == grids["tiny/1"].content != grids["tiny/latest"].content


BAD = [  # (path, body or raw text, status, the field the message must name)
    ("generate", {"n": 0}, 422, "n"),
    ("generate", {"n": 65}, 422, "n"),
    ("generate", {"n": 4, "format": "png"}, 422, "n"),
    ("generate", {"seed": -1}, 422, "seed"),
    ("generate", {"seed": "abc"}, 422, "seed"),
    ("generate", {"truncation": 0}, 422, "truncation"),
    ("generate", {"class_id": 10}, 422, "class_id"),
    ("generate", {"class_id": -1}, 422, "class_id"),
    ("generate", {"model": "tiny/1", "class_id": 1}, 422, "class_id"),
    ("generate", {"model": "nope"}, 404, "loaded: cond, tiny/1, tiny/latest, tiny@champion"),
    ("generate", {"format": "gif"}, 422, "format"),
    ("generate", {"colour": "red"}, 422, "colour"),
    ("generate", '{"n": 1,', 422, "json"),
    ("generate", "[1, 2]", 422, "body"),
    ("generate", json.dumps({"seed": 1, "pad": "x" * 20000}), 413, "body"),
    ("interpolate", {"seed_a": 1, "seed_b": 2, "steps": -3}, 422, "steps"),
    ("interpolate", {"seed_a": 1, "seed_b": 2, "steps": 33}, 422, "steps"),
    ("interpolate", {"seed_b": 2}, 422, "seed_a"),
    ("interpolate", {"seed_a": 1, "seed_b": 2, "space": "q"}, 422, "space"),
]


@pytest.mark.parametrize("path,body,status,field", BAD, ids=[f"{p}-{f}-{s}-{i}" for i, (p, _, s, f) in enumerate(BAD)])
def test_bad_input_gets_a_4xx_naming_the_field(server, path, body, status, field):
    url = f"{server}/v1/{path}"
    if isinstance(body, str):
        response = requests.post(url, data=body, headers={"content-type": "application/json"}, timeout=60)
    else:
        response = requests.post(url, json=body, timeout=60)
    assert response.status_code == status, response.text
    assert field in response.text


def test_body_without_content_length_is_limited_too(server):
    chunks = (part for part in [b'{"seed": 1, "pad": "', b"x" * 20000, b'"}'])  # chunked transfer encoding
    response = requests.post(f"{server}/v1/generate", data=chunks, headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == 413, response.text


def test_token_auth(server):
    secure = f"{server}/secure"
    assert requests.post(f"{secure}/v1/generate", json={}, timeout=60).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert requests.post(f"{secure}/v1/generate", json={}, headers=wrong, timeout=60).status_code == 401
    assert requests.get(f"{secure}/v1/models", timeout=60).status_code == 401
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert _image(requests.post(f"{secure}/v1/generate", json={"seed": 3}, headers=right, timeout=60)).size == (32, 32)
    assert requests.get(f"{secure}/healthz", timeout=30).status_code == 200
    assert requests.get(f"{server}/v1/models", timeout=60).status_code == 200  # auth off on the open app


def test_load_200_requests_at_concurrency_16_no_5xx(server):
    bodies = [{"seed": i, "n": 1 + i % 4, "format": "grid" if i % 2 else "json", "model": MODELS[i % 4]}
              for i in range(200)]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda body: _generate(server, **body).status_code, bodies))
    assert statuses.count(200) == 200, {s: statuses.count(s) for s in set(statuses)}


def test_playground_page_is_served(server):
    page = requests.get(f"{server}/", timeout=30)
    assert page.status_code == 200 and "ganforge playground" in page.text
    assert requests.get(f"{server}/openapi.json", timeout=30).json()["paths"].keys() >= {"/v1/generate", "/v1/interpolate"}


# ------------------------------------------------------------------ headless chromium
async def _cdp_click_and_screenshot(ws_url: str, url: str, shot: Path) -> bool:
    """Open url, click Generate with the mouse, wait for the image, save a screenshot."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
        ids = iter(range(1, 10_000))

        async def call(method: str, **params):
            msg_id = next(ids)
            await ws.send_json({"id": msg_id, "method": method, "params": params})
            async for message in ws:
                data = json.loads(message.data)
                if data.get("id") == msg_id:
                    return data.get("result", {})

        async def evaluate(expression: str):
            return (await call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

        await call("Page.enable")
        await call("Page.navigate", url=url)
        for _ in range(100):  # the model list arrives from /v1/models
            if await evaluate("document.getElementById('model').options.length") == len(MODELS):
                break
            await asyncio.sleep(0.2)
        box = await evaluate("(() => { const r = document.getElementById('generate').getBoundingClientRect();"
                             " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            await call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        loaded = False
        for _ in range(150):
            loaded = await evaluate("document.getElementById('result').dataset.loaded === '1' &&"
                                    " document.getElementById('result').naturalWidth > 0")
            if loaded:
                break
            await asyncio.sleep(0.2)
        shot.write_bytes(base64.b64decode((await call("Page.captureScreenshot", format="png"))["data"]))
        return bool(loaded)


def test_playground_click_generates_a_grid_in_headless_chromium(server):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Debian's chromium is not installed: run scripts/setup.sh (it installs it: apt-get install -y chromium)"
    port = _port()
    profile = tempfile.mkdtemp(prefix="gf-chromium-")
    process = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=900,1000",
                                f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (requests.RequestException, StopIteration):
                time.sleep(0.3)
        else:
            pytest.fail("chromium's DevTools endpoint did not come up")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "playground.png"
        loaded = asyncio.run(_cdp_click_and_screenshot(page["webSocketDebuggerUrl"], f"{server}/", shot))
        assert loaded, f"no image appeared after clicking Generate (screenshot: {shot})"
        assert Image.open(shot).size[0] > 0
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def test_same_seed_same_bytes_whatever_else_shares_the_batch(tmp_path):
    """Batching across clients must not change a client's images (BatchNorm runs in eval mode)."""
    from ganforge.commands.serve import serving_module
    from ganforge.sampling import load_generator

    forward_jobs = serving_module().forward_jobs
    models = {"g": load_generator(str(save_tiny_generator(tmp_path / "g", num_classes=10).parent)).generator}

    def job(seed: int, n: int = 1) -> dict:
        return {"model": "g", "n": n, "seed": seed, "truncation": None, "class_id": None, "format": "grid"}

    alone = forward_jobs(models, [job(1, 4)])[0]["png"]
    assert forward_jobs(models, [job(0, 5), job(1, 4), *[job(s) for s in range(2, 16)]])[1]["png"] == alone


# ------------------------------------------------------------------ sources that do not resolve or load
def test_a_source_that_does_not_resolve_fails_the_app_builder_with_one_line(registry):
    """What `serve run serving.app:app` / `serve deploy` call first: nothing is deployed."""
    from ganforge.commands.serve import serving_module
    from ganforge.sampling import SourceError

    build = serving_module().build_app
    for source, message in [("models:/tiny/9", "no version 9 (versions: 2, 1"), ("models:/tiny@gone", "no alias 'gone'"),
                            ("models:/nope/latest", "no registered model 'nope'")]:
        with pytest.raises(SourceError, match=re.escape(message)) as caught:
            build({"models": ["models:/tiny/1", source], "tracking_uri": registry.uri})
        assert "\n" not in str(caught.value)


def test_a_model_that_does_not_load_fails_start_up_and_healthz_answers_503(server, tmp_path):
    """A source that resolves but does not load: its app never starts (one line says why), and
    while Serve retries it the app's /healthz answers 503 with that line; the other apps serve on."""
    from ray import serve

    from ganforge.commands.serve import serving_module, start_failure

    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "generator.pt").write_bytes(b"not a checkpoint")
    application = serving_module().build_app({"models": [str(tmp_path / "broken")], "num_cpus": 0.25})
    statuses = []  # /broken/healthz while Serve tries to start the app (404: no route yet)
    try:
        with ThreadPoolExecutor(1) as pool:
            started = pool.submit(serve.run, application, name="broken", route_prefix="/broken")
            while not started.done():
                statuses.append(_status(f"{server}/broken/healthz"))
                time.sleep(1)
            with pytest.raises(RuntimeError) as caught:
                started.result()
        line = start_failure(caught.value, "broken")
        assert line.startswith("a model cannot be loaded: ") and "cannot be loaded as a ganforge generator" in line, line
        assert str(tmp_path / "broken") in line and "\n" not in line
        unhealthy = requests.get(f"{server}/broken/healthz", timeout=60)
        assert unhealthy.status_code == 503 and "detail" in unhealthy.text, (unhealthy.text, statuses)
        assert "cannot be loaded as a ganforge generator" in unhealthy.json()["detail"]
        assert 200 not in statuses, statuses
    finally:
        serve.delete("broken")
    assert requests.get(f"{server}/healthz", timeout=30).status_code == 200
