"""Debian's Firefox ESR, headless, driven over WebDriver BiDi (the W3C protocol that
Firefox speaks natively: JSON commands over a websocket) for the page test.

Written by hand because nothing installable drives a stock Firefox from Python
without a separate driver binary: Playwright's Firefox is its own patched build
(a download), Selenium needs geckodriver (not packaged by Debian; PyPI's and npm's
packages of it download the binary), and puppeteer-core would bring Node.js into
the Python test suite. The client needs six commands (session.new,
browsingContext.getTree, browsingContext.navigate, script.evaluate,
input.performActions, browser.close), over the ``websockets`` library the project
already depends on.

:class:`FirefoxPage` offers the few page calls the test uses with Playwright's
spellings (``goto``, ``click``, ``wait_for_function``, ``evaluate``), so one test
body drives Chromium (through Playwright) and Firefox.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import websockets
from bridgeproc import read_until

_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")
START_TIMEOUT_S = 60.0


class BiDiError(AssertionError):
    """A command the browser answered with an error, or a script that threw."""


class FirefoxPage:
    """One tab of a BiDi session. Runs on the test's event loop."""

    def __init__(self, ws: Any, context: str) -> None:
        self._ws = ws
        self._context = context
        self._ids = itertools.count(1)

    @classmethod
    async def open(cls, ws: Any) -> FirefoxPage:
        page = cls(ws, "")
        await page.command("session.new", {"capabilities": {}})
        tree = await page.command("browsingContext.getTree", {"maxDepth": 0})
        page._context = tree["contexts"][0]["context"]
        return page

    async def command(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Send one command and wait for its answer (events received meanwhile are
        dropped: the session subscribes to none)."""
        command_id = next(self._ids)
        await self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("id") != command_id:
                continue
            if message.get("type") == "error":
                raise BiDiError(f"{method}: {message.get('error')}: {message.get('message')}")
            result: dict[str, Any] = message["result"]
            return result

    async def close_browser(self) -> None:
        """End the page as a person's closing it would (its microphone and playback
        streams to the sound server closed by the page's own teardown), then the
        browser: a sound-server client killed mid-stream is the suspect of the one
        crash of the rig's pipewire-pulse (0.3.65) seen in CI. Best effort: the
        caller terminates the process anyway."""
        with contextlib.suppress(BiDiError, asyncio.TimeoutError, websockets.ConnectionClosed):
            await asyncio.wait_for(self.goto("about:blank"), 10)
            await asyncio.wait_for(self.command("browser.close", {}), 10)

    async def goto(self, url: str) -> None:
        await self.command("browsingContext.navigate",
                           {"context": self._context, "url": url, "wait": "complete"})

    async def evaluate(self, expression: str) -> Any:
        """The value of ``expression``, as Playwright's ``evaluate`` gives it: a function
        is called, a promise awaited; the value travels as JSON (JSON.stringify)."""
        source = (f"(async () => {{ let v = ({expression}); if (typeof v === 'function') "
                  f"v = v(); return JSON.stringify(await v); }})()")
        result = await self.command("script.evaluate", {
            "expression": source, "target": {"context": self._context},
            "awaitPromise": True})
        if result["type"] == "exception":
            details = result["exceptionDetails"]
            raise BiDiError(f"script threw: {details.get('text')} ({expression[:80]})")
        value = result["result"]
        return None if value["type"] == "undefined" else json.loads(value["value"])

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element, through the browser's input
        pipeline (input.performActions), so the page gets the user activation that
        lets audio start, as a person's click gives it."""
        found = await self.command("script.evaluate", {
            "expression": f"document.querySelector({json.dumps(selector)})",
            "target": {"context": self._context}, "awaitPromise": False,
            "resultOwnership": "root"})
        if found["type"] != "success" or found["result"]["type"] != "node":
            raise BiDiError(f"no element {selector}")
        element = {"sharedId": found["result"]["sharedId"]}
        await self.command("input.performActions", {"context": self._context, "actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "x": 0, "y": 0,
                 "origin": {"type": "element", "element": element}},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0}]}]})

    async def wait_for_function(self, expression: str, *, timeout: float) -> None:
        """Poll ``expression`` until it is truthy; ``timeout`` in milliseconds."""
        deadline = time.monotonic() + timeout / 1000
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} ms for {expression}")
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def firefox(executable: str, prefs: Mapping[str, Any],
                  env: Mapping[str, str] | None = None) -> AsyncIterator[FirefoxPage]:
    """Headless Firefox with a new profile holding ``prefs``; its first tab."""
    with tempfile.TemporaryDirectory(prefix="voicebot-firefox-") as profile:
        Path(profile, "user.js").write_text("".join(
            f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items()))
        proc = subprocess.Popen(
            [executable, "--headless", "--no-remote", "--profile", profile,
             "--remote-debugging-port", "0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=None if env is None else dict(env))
        try:
            # A Firefox that never starts is killed below, which ends the reader.
            url = await asyncio.wait_for(asyncio.to_thread(_bidi_url, proc),
                                         START_TIMEOUT_S)
            async with websockets.connect(f"{url}/session", max_size=None) as ws:
                page = await FirefoxPage.open(ws)
                try:
                    yield page
                finally:
                    await page.close_browser()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _bidi_url(proc: subprocess.Popen[str]) -> str:
    """The BiDi address Firefox prints on stderr; the rest of stderr is drained."""
    return read_until(proc, _LISTENING, [], "firefox").group(1)
