"""Debian's headless Chromium driven through the Chrome DevTools Protocol, for page tests.

Why by hand: the protocol is JSON over one WebSocket, and aiohttp (already installed with
faust) speaks WebSocket; a browser-automation package would bring a second browser
download that this machine cannot reach. The driver is synchronous (its own event loop)
so that tests read like a person's steps: open, type, press Enter, read, wait.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["Chromium", "BrowserError"]

MISSING = "chromium is missing: run 'make tools' (it installs Debian's chromium package)"


class BrowserError(AssertionError):
    """The page raised, the protocol refused a command, or the browser did not start."""


class Chromium:
    """One headless browser process with one page (tab), driven over DevTools."""

    def __init__(self, workdir: Path, *, width: int = 1200, height: int = 900) -> None:
        browser = shutil.which("chromium")
        assert browser, MISSING
        self.profile = workdir / "chromium-profile"
        self.profile.mkdir(parents=True, exist_ok=True)
        (self.profile / "DevToolsActivePort").unlink(missing_ok=True)  # a previous browser's port
        self.log_path = workdir / "chromium.log"
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self.process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self.log_path.open("wb"), start_new_session=True)
        try:
            self._session, self._socket = self._loop.run_until_complete(self._connect(self._devtools_port()))
            self.send("Page.enable")
            self.send("Runtime.enable")
        except BaseException:
            self.close()
            raise

    # -- protocol ---------------------------------------------------------------------------

    def _devtools_port(self, timeout: float = 30.0) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if active.exists() and active.read_text().strip():
                return int(active.read_text().split()[0])
            if self.process.poll() is not None:
                raise BrowserError(f"chromium exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        raise BrowserError(f"chromium did not open its DevTools port in {timeout}s")

    async def _connect(self, port: int) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
        session = aiohttp.ClientSession()
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(target for target in targets if target.get("type") == "page")
        socket = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        return session, socket

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """One command; its result (events arriving meanwhile are dropped)."""
        return self._loop.run_until_complete(asyncio.wait_for(self._send(method, params), timeout))

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        command_id = next(self._ids)
        await self._socket.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = await self._socket.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                raise BrowserError(f"the DevTools connection closed ({message.type.name})")
            answer = json.loads(message.data)
            if answer.get("id") == command_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))

    # -- a person's steps -------------------------------------------------------------------

    def open(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 30.0) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for(f"location.href === {json.dumps(url)} && ({ready})", timeout)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression[:200]}: {details.get('exception', {}).get('description') or details}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, poll: float = 0.2) -> Any:
        """The expression's first truthy value, polled (a page being replaced counts as not yet)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            try:
                last = self.evaluate(expression)
                if last:
                    return last
            except BrowserError as exc:  # the document was replaced mid-evaluation: try again
                last = exc
            if time.monotonic() >= deadline:
                raise AssertionError(f"not true within {timeout}s: {expression[:300]} (last: {last!r})")
            time.sleep(poll)

    def type_text(self, text: str) -> None:
        """Types into the focused element, as a keyboard would insert it."""
        self.send("Input.insertText", text=text)

    def press_enter(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13,
                      **({"text": "\r"} if kind == "keyDown" else {}))

    def screenshot(self, path: Path, *, width: int, mobile: bool = False) -> Path:
        """The whole page at ``width`` CSS pixels (its full height), as a PNG file."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=800, deviceScaleFactor=1, mobile=mobile)
        height = int(self.evaluate("Math.ceil(document.documentElement.scrollHeight)"))
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
        shot = self.send("Page.captureScreenshot", format="png")
        self.send("Emulation.clearDeviceMetricsOverride")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            if hasattr(self, "_socket"):
                self._loop.run_until_complete(self._socket.close())
            if hasattr(self, "_session"):
                self._loop.run_until_complete(self._session.close())
        finally:
            self._loop.close()
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
