"""Debian's headless chromium driven over the DevTools protocol (CDP), for playground tests: start
it, open a page, evaluate JavaScript, click with the mouse, set a file input, take a screenshot.
(The same protocol calls as test_serve.py's generation-panel test, as a reusable session.)"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

SETUP_HINT = "Debian's chromium is not installed: run scripts/setup.sh (it installs it: apt-get install -y chromium)"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def chromium_page():
    """A headless chromium we start (stopped by its PID on exit); yields its page's CDP WebSocket URL."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, SETUP_HINT
    port, profile = _port(), tempfile.mkdtemp(prefix="gf-chromium-")
    process = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                "--window-size=900,1200", f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield _page_url(port)
    finally:
        process.terminate()
        process.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def _page_url(port: int) -> str:
    """The WebSocket URL of chromium's first page, once its DevTools endpoint answers."""
    for _ in range(100):
        try:
            targets = requests.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
            return next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
        except (requests.RequestException, StopIteration):
            time.sleep(0.3)
    raise AssertionError("chromium's DevTools endpoint did not come up")


class Page:
    """One CDP session on a page (``async with Page(ws_url) as page``)."""

    def __init__(self, ws_url: str):
        self.ws_url, self._ids = ws_url, iter(range(1, 100_000))

    async def __aenter__(self) -> "Page":
        import aiohttp

        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.ws_url, max_msg_size=0)
        await self.call("Page.enable")
        return self

    async def __aexit__(self, *exc) -> None:
        await self._ws.close()
        await self._session.close()

    async def call(self, method: str, **params) -> dict:
        """Send one CDP command and return its result (events in between are skipped)."""
        msg_id = next(self._ids)
        await self._ws.send_json({"id": msg_id, "method": method, "params": params})
        async for message in self._ws:
            data = json.loads(message.data)
            if data.get("id") == msg_id:
                assert "error" not in data, data["error"]
                return data.get("result", {})
        raise AssertionError(f"the CDP connection closed during {method}")

    async def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        return (await self.call("Runtime.evaluate", expression=expression, returnByValue=True))["result"].get("value")

    async def wait_for(self, expression: str, tries: int = 150) -> bool:
        """Whether ``expression`` became truthy within ``tries`` polls of 0.2 s."""
        for _ in range(tries):
            if await self.evaluate(expression):
                return True
            await asyncio.sleep(0.2)
        return False

    async def click(self, element_id: str) -> None:
        """A left mouse click at the centre of the element (as a user clicks, not element.click())."""
        box = await self.evaluate(f"(() => {{ const r = document.getElementById('{element_id}').getBoundingClientRect();"
                                  " return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def set_file(self, selector: str, path: Path) -> None:
        """Choose ``path`` in a file input, as the file dialog would."""
        root = (await self.call("DOM.getDocument"))["root"]["nodeId"]
        node = (await self.call("DOM.querySelector", nodeId=root, selector=selector))["nodeId"]
        await self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    async def screenshot(self, path: Path) -> None:
        """Save a PNG screenshot of the page."""
        path.write_bytes(base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"]))
