"""The kiosk's status screen: a page for Chromium in kiosk mode, updated live.

::

    Driver ──publish(record)──▶ ScreenHub ──▶ ScreenState (pure: records + time → snapshot)
                                    │
                                    ├──▶ each page: the record (as ``--json`` prints it),
                                    │    then a snapshot ``{"type": "screen", …}``
    on_command(Talk | Mute) ◀───────┴─── {"type": "talk"} · {"type": "mute", "muted": …}

- ``GET /``: the page; ``GET /static/…``: its script and style; ``GET /healthz``:
  ``{"status": "ok", "clients": N}`` (an autostart script waits for it).
- ``WS /ws``: on connect the current snapshot, then every record the screen is sent
  (all but ``audio``) each followed by a snapshot when the screen changed.

Everything runs on the event loop's thread. :meth:`ScreenHub.publish` never waits:
each page has a bounded queue of records (the oldest is dropped when full) and one
slot for the latest snapshot, so a page that reads slowly, or not at all, costs a
bounded amount of memory and never holds up the conversation; uvicorn's keepalive
ping closes a page that stopped answering.

Starlette on uvicorn as the bridge uses, but none of the bridge's code: the kiosk
runs without the bridge. The screen has no password: it listens on the loopback
interface only, and its websocket accepts only pages it served itself (``Host`` a
loopback name, ``Origin`` absent or the same), so another web page open in a browser
on the kiosk cannot press its buttons.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import ConfigError
from ..turntaking.events import Event
from ..web import LoopServer, index_page
from .screenstate import ScreenCommand, ScreenState, parse_command

__all__ = ["ScreenHub", "ScreenServer", "create_app", "DEFAULT_PORT"]

log = logging.getLogger("voicebot.kiosk.screen")

DEFAULT_PORT = 8766
#: What the page may send: its commands are a few dozen bytes.
MAX_MESSAGE_BYTES = 4096
_LOOPBACK_NAMES = ("localhost",)


class _Page:
    """One connected page's outgoing messages: bounded, the snapshot coalesced."""

    def __init__(self, max_records: int) -> None:
        self._records: deque[str] = deque()
        self._max_records = max_records
        self._snapshot: str | None = None
        self._wake = asyncio.Event()
        self.dropped = 0

    @property
    def backlog(self) -> int:
        return len(self._records)

    def put_record(self, message: str) -> None:
        if len(self._records) >= self._max_records:
            self._records.popleft()  # the snapshot that follows says where things are
            self.dropped += 1
        self._records.append(message)
        self._wake.set()

    def put_snapshot(self, message: str) -> None:
        self._snapshot = message  # only the latest matters
        self._wake.set()

    async def next(self) -> str:
        """The next message to send: records in order, then the latest snapshot."""
        while True:
            if self._records:
                return self._records.popleft()
            if self._snapshot is not None:
                message, self._snapshot = self._snapshot, None
                return message
            self._wake.clear()
            await self._wake.wait()


class ScreenHub:
    """What the screen shows and who looks at it. Loop thread only.

    ``on_command(command)`` receives the pages' :class:`~.screenstate.Talk` and
    :class:`~.screenstate.Mute` commands (loop thread; it must not block). Use
    :meth:`publish` as a :class:`~voicebot.driver.Driver` subscriber. ``clock``
    (monotonic seconds) times the records; ``wall_clock`` (epoch seconds) is the
    time the page shows. ``redact`` masks secrets in what is sent.
    ``max_queued_records``: per page, past this the oldest record is dropped.
    """

    #: Records a screen has no use for (one per audio delta): not sent.
    SKIPPED_TYPES = frozenset({"audio"})

    def __init__(self, on_command: Callable[[ScreenCommand], None], *,
                 state: ScreenState | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 redact: Callable[[str], str] | None = None,
                 max_queued_records: int = 64) -> None:
        self.on_command = on_command
        self.state = state if state is not None else ScreenState()
        self._clock = clock
        self._wall_clock = wall_clock
        self._redact = redact
        self._max_records = max_queued_records
        self._pages: set[_Page] = set()
        self._tick: asyncio.TimerHandle | None = None
        self._tick_at: float | None = None
        #: Records dropped because a page read too slowly (all pages, ever).
        self.dropped = 0

    @property
    def clients(self) -> int:
        return len(self._pages)

    @property
    def backlog(self) -> int:
        """The most records waiting for one page (at most ``max_queued_records``)."""
        return max((page.backlog for page in self._pages), default=0)

    # ------------------------------------------------------------------ records in

    def publish(self, event: Event) -> None:
        """Show a record (a Driver subscriber). Never waits."""
        now = self._clock()
        changed = self.state.feed(event, now)
        if self._pages and event.type not in self.SKIPPED_TYPES:
            message = self._encode(event.to_dict())
            for page in self._pages:
                page.put_record(message)
        if changed:
            self._send_snapshot(now)
            self._schedule(now)

    def snapshot(self) -> dict[str, Any]:
        """The screen now, as the pages get it."""
        return self.state.snapshot(self._clock(), self._wall_clock())

    def _send_snapshot(self, now: float) -> None:
        if self._pages:
            message = self._encode(self.state.snapshot(now, self._wall_clock()))
            for page in self._pages:
                page.put_snapshot(message)

    def _encode(self, record: dict[str, Any]) -> str:
        line = json.dumps(record, ensure_ascii=False, default=str)  # as --json prints it
        return self._redact(line) if self._redact is not None else line

    def _schedule(self, now: float) -> None:
        """Send a fresh snapshot when the screen changes by itself (an error's hold
        ends, a finished timer leaves the list)."""
        at = self.state.next_change_at(now)
        if at is None or at == self._tick_at:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # fed outside a loop (a test of the state): no pages to tell
            return
        if self._tick is not None:
            self._tick.cancel()
        self._tick_at = at
        # A hair late so the snapshot sees the change (call_later may fire a bit early).
        self._tick = loop.call_later(max(0.0, at - now) + 0.01, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = self._tick_at = None
        now = self._clock()
        self._send_snapshot(now)
        self._schedule(now)

    # ------------------------------------------------------------------ pages

    def command(self, message: str | bytes) -> None:
        """A message from a page: run it if it is a command, ignore anything else."""
        command = parse_command(message)
        if command is None:
            log.debug("ignored a message from a screen page")
            return
        try:
            self.on_command(command)
        except Exception as exc:  # noqa: BLE001 - the page goes on; the kiosk logs why
            log.warning("screen command %s failed: %s", type(command).__name__, exc)

    @contextlib.contextmanager
    def connected(self) -> Iterator[_Page]:
        """A page for the duration of its connection, its first message the snapshot."""
        page = _Page(self._max_records)
        page.put_snapshot(self._encode(self.snapshot()))
        self._pages.add(page)
        try:
            yield page
        finally:
            self._pages.discard(page)
            self.dropped += page.dropped

    def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = self._tick_at = None


def _loopback(hostname: str | None) -> bool:
    if hostname is None:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def local_page(host: str | None, origin: str | None) -> bool:
    """A websocket from a page this screen served: ``Host`` names this machine's
    loopback (not a DNS name rebound to it) and ``Origin`` is absent (a program) or
    that same host and port."""
    if not host or not _loopback(urllib.parse.urlsplit(f"//{host}").hostname):
        return False
    return origin is None or urllib.parse.urlsplit(origin).netloc.lower() == host.lower()


def create_app(hub: ScreenHub) -> Starlette:
    static = resources.files("voicebot.kiosk") / "static"

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "clients": hub.clients})

    async def ws(websocket: WebSocket) -> None:
        if not local_page(websocket.headers.get("host"), websocket.headers.get("origin")):
            log.info("refused a screen websocket from origin %r", websocket.headers.get("origin"))
            await websocket.close(1008)  # before accept: uvicorn answers HTTP 403
            return
        await websocket.accept()
        with hub.connected() as screen_page:
            writer = asyncio.get_running_loop().create_task(_write(websocket, screen_page))
            try:
                while not writer.done():
                    message = await websocket.receive()
                    if message["type"] == "websocket.disconnect":
                        break
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes")
                    if data is not None:
                        hub.command(data)
            except (RuntimeError, WebSocketDisconnect):
                pass  # the page went away
            finally:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer

    return Starlette(routes=[
        Route("/", index_page(static)),
        Route("/healthz", healthz),
        WebSocketRoute("/ws", ws),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
    ])


async def _write(websocket: WebSocket, page: _Page) -> None:
    """One page's writer: waits on its socket, never on the conversation."""
    while True:
        await websocket.send_text(await page.next())


class ScreenServer:
    """The screen's web server on the running loop: ``await start()`` … ``await stop()``
    (or ``async with``). Refuses (:class:`~voicebot.errors.ConfigError`, one line) a
    host that is not loopback or a port it cannot listen on. ``port`` 0 picks a free
    one; :attr:`port` is the one in use once started."""

    def __init__(self, hub: ScreenHub, *, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT) -> None:
        if not _loopback(host):
            raise ConfigError(f"the status screen has no password, so it listens on this "
                              f"machine only (127.0.0.1), not {host}")
        if not 0 <= port <= 65535:
            raise ConfigError(f"screen port {port} is not a TCP port number")
        self.hub = hub
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None
        self._server: LoopServer | None = None
        self._serving: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/"

    async def start(self) -> None:
        """Listen and serve (returns once serving)."""
        try:
            self._sock = socket.create_server((self.host, self.port))
        except OSError as exc:
            raise ConfigError(f"the status screen cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from None
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        ws = "websockets-sansio" if "websockets-sansio" in uvicorn.config.WS_PROTOCOLS \
            else "websockets"  # uvicorn < 0.35
        config = uvicorn.Config(
            create_app(self.hub), ws=ws, ws_max_size=MAX_MESSAGE_BYTES,
            ws_per_message_deflate=False, log_level="warning", access_log=False,
            lifespan="off", server_header=False, timeout_graceful_shutdown=2)
        self._server = LoopServer(config)
        self._serving = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._sock]))
        while not self._server.started and not self._serving.done():
            await asyncio.sleep(0.01)
        if self._serving.done():
            await self.stop()
            raise ConfigError("the status screen did not start")

    async def stop(self) -> None:
        """Close the pages' connections and stop serving."""
        self.hub.close()
        if self._server is not None:
            self._server.exit()
        if self._serving is not None:
            with contextlib.suppress(Exception):
                await self._serving
            self._serving = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def __aenter__(self) -> ScreenServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
