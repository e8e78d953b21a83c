"""The bridge's HTTP and websocket routes (Starlette), served by uvicorn.

- ``GET /``: the browser page; ``GET /static/…``: its scripts.
- ``GET /healthz``: ``{"status": "ok"|"draining", "sessions": N, "token": bool}`` (503
  while draining, so a load balancer stops sending new clients here; ``token``: the
  page must ask for one). ``GET /stats``: sessions and the frame-processing delays
  (``?reset=1`` starts a new window).
- ``WS /ws``: the bridge protocol (:mod:`.wire`); ``WS /twilio`` and
  ``POST /twilio/voice``: Twilio Media Streams (:mod:`.twilio`).

Why Starlette on uvicorn rather than the ``websockets`` server alone: Twilio's
webhook is a form POST, and the ``websockets`` server answers plain HTTP only
through ``process_request``, which refuses any request with a body. uvicorn's
``websockets-sansio`` protocol is the ``websockets`` library's own sans-I/O core;
:class:`BridgeWebSocketProtocol` adds the one thing it lacks: closing a client that
stopped reading (its close otherwise waits for the client to read first, forever).
"""

from __future__ import annotations

import logging
import urllib.parse
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..web import index_page
from .hub import Hub
from .link import serve_ws

__all__ = ["create_app", "origin_allowed", "StarletteChannel", "protocol_class"]

log = logging.getLogger("voicebot.bridge")


def origin_allowed(origin: str | None, host: str | None, allowed: tuple[str, ...]) -> bool:
    """A browser's ``Origin``: the bridge's own (same host and port as the request's
    ``Host``), one of ``allowed`` (``scheme://host[:port]``), or none at all (programs)."""
    if origin is None:
        return True
    if origin in allowed or "*" in allowed:
        return True
    netloc = urllib.parse.urlsplit(origin).netloc
    return bool(host) and netloc.lower() == (host or "").lower()


class StarletteChannel:
    """A Starlette websocket as a :class:`~.hub.Channel`. Loop thread."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self._gone = False

    async def receive(self) -> bytes | str | None:
        if self._gone:
            return None
        try:
            message = await self._ws.receive()
        except (RuntimeError, WebSocketDisconnect):
            self._gone = True
            return None
        if message["type"] == "websocket.disconnect":
            self._gone = True
            return None
        data = message.get("bytes")
        if data is not None:
            return bytes(data)
        text = message.get("text")
        return text if text is not None else ""

    async def send(self, message: bytes | str) -> None:
        if isinstance(message, bytes):
            await self._ws.send_bytes(message)
        else:
            await self._ws.send_text(message)

    async def close(self, code: int, reason: str) -> None:
        # A close frame's reason is limited to 123 bytes (RFC 6455, 5.5).
        await self._ws.close(code, reason.encode()[:123].decode(errors="ignore"))


def create_app(hub: Hub, *, twilio_routes: list[Any] | None = None) -> Starlette:
    static = resources.files("voicebot.bridge") / "static"

    async def healthz(request: Request) -> JSONResponse:
        status = "draining" if hub.draining else "ok"
        return JSONResponse({"status": status, "sessions": len(hub.sessions),
                             "token": hub.options.token is not None},
                            status_code=503 if hub.draining else 200)

    async def stats(request: Request) -> JSONResponse:
        # Diagnostics for operators and the benchmark; ?reset=1 starts a new window.
        body = {"sessions": len(hub.sessions), "draining": hub.draining,
                "frame_delay": hub.frame_delays.summary()}
        if request.query_params.get("reset"):
            hub.frame_delays.reset()
        return JSONResponse(body)

    async def ws(websocket: WebSocket) -> None:
        if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"),
                              hub.options.origins):
            log.info("refused a websocket from origin %r", websocket.headers.get("origin"))
            await websocket.close(1008)  # before accept: uvicorn answers HTTP 403
            return
        await websocket.accept()
        await serve_ws(StarletteChannel(websocket), hub)

    routes: list[Any] = [
        Route("/", index_page(static)),
        Route("/healthz", healthz),
        Route("/stats", stats),
        WebSocketRoute("/ws", ws),
        Mount("/static", app=StaticFiles(directory=str(static)), name="static"),
        *(twilio_routes or []),
    ]
    app = Starlette(routes=routes)
    app.state.hub = hub
    return app


def protocol_class() -> Any:
    """uvicorn's ``ws`` setting: the sans-I/O ``websockets`` protocol, taught to close
    a client that stopped reading; the plain ``websockets`` one on older uvicorn."""
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:  # uvicorn < 0.35
        return "websockets"

    class BridgeWebSocketProtocol(WebSocketsSansIOProtocol):
        """uvicorn's protocol, except for one case: the app closes while the transport
        is paused (the client stopped reading). uvicorn would wait for the buffer to
        drain, which never happens; here the close frame is queued behind the data
        already buffered (a client that reads again gets it), and the connection is
        aborted if the client has not answered it within the close timeout."""

        async def send(self, message: Any) -> None:
            if (message["type"] == "websocket.close" and self.handshake_complete
                    and not self.close_sent and self.initial_response is None
                    and not self.writable.is_set() and not self.transport.is_closing()):
                code = message.get("code", 1000)
                reason = message.get("reason", "") or ""
                self.queue.put_nowait({"type": "websocket.disconnect", "code": code,
                                       "reason": reason})
                self.conn.send_close(code, reason)
                self.transport.write(b"".join(self.conn.data_to_send()))
                self.close_sent = True
                self.close_timer = self.loop.call_later(self.close_timeout, self.transport.abort)
                return
            await super().send(message)

    return BridgeWebSocketProtocol
