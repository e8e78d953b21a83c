"""``voicebot bridge``: run the websocket bridge until SIGTERM/Ctrl-C, then drain.

One process serves many conversations on one event loop; they share the upstream
(the configured server, or the embedded one) through one HTTP connection pool.
SIGTERM or Ctrl-C drains: the listening socket closes at once (a load balancer
sends new clients elsewhere), each session closes with 1001 "going away" when its
reply is over (at the latest after ``drain_timeout_s``), then the process exits 0.
A second signal cuts the drain short.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import socket
from typing import Any

import uvicorn

from ..config import Settings
from ..console import Console
from ..errors import ConfigError
from ..pipeline import backend, make_session
from ..session.client import new_http_pool
from ..web import LoopServer
from .app import create_app, protocol_class
from .hub import BridgeOptions, Hub
from .wire import MAX_MESSAGE_BYTES

__all__ = ["bridge", "run_bridge", "BridgeServer", "check_bind", "listen", "uvicorn_config"]

#: Keepalive: the websockets defaults (a ping every 20 s, 20 s to answer).
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token (one line saying why)."""
    if token is None and not _is_loopback(host):
        raise ConfigError(f"refusing to listen on {host} without a token: anyone who can "
                          "reach it could talk on your API key (set --token or "
                          "VOICEBOT_BRIDGE_TOKEN, or listen on 127.0.0.1)")


def listen(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port number")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def uvicorn_config(app: Any, **overrides: Any) -> uvicorn.Config:
    """uvicorn as the bridge needs it: frames over 32 KiB close with 1009, no
    compression (audio does not deflate; it would cost ~64 KiB a connection),
    keepalive pings, no access log (a session is one long request)."""
    options: dict[str, Any] = dict(
        ws=protocol_class(), ws_max_size=MAX_MESSAGE_BYTES, ws_max_queue=16,
        ws_ping_interval=PING_INTERVAL_S, ws_ping_timeout=PING_TIMEOUT_S,
        ws_per_message_deflate=False, log_level="warning", access_log=False,
        lifespan="off", server_header=False, timeout_graceful_shutdown=3)
    options.update(overrides)
    return uvicorn.Config(app, **options)


class BridgeServer:
    """The bridge's uvicorn server on a bound socket, started and drained from the loop.

    ``async with BridgeServer(hub, sock):`` serves; leaving drains (see :meth:`drain`).
    """

    def __init__(self, hub: Hub, sock: socket.socket, **uvicorn_overrides: Any) -> None:
        from .twilio import twilio_routes

        self.hub = hub
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        app = create_app(hub, twilio_routes=twilio_routes(hub))
        self._server = LoopServer(uvicorn_config(app, **uvicorn_overrides))
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._serving = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self.sock]))
        while not self._server.started and not self._serving.done():
            await asyncio.sleep(0.01)
        if self._serving.done():
            self._serving.result()  # startup failed: raise it
            raise ConfigError("the bridge did not start")

    @property
    def running(self) -> asyncio.Task[None] | None:
        return self._serving

    async def drain(self) -> None:
        """Stop accepting (a load balancer moves new clients elsewhere), let sessions
        finish their replies (1001 "going away"), then stop the server."""
        for listener in getattr(self._server, "servers", []):
            listener.close()
        self.hub.drain()
        await self.hub.drained()
        await self.stop()

    async def stop(self) -> None:
        self._server.exit()
        if self._serving is not None:
            await self._serving

    async def __aenter__(self) -> BridgeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._serving is not None and not self._serving.done():
            await self.drain()


async def bridge(settings: Settings, console: Console, *, host: str, port: int,
                 options: BridgeOptions) -> int:
    """Serve until SIGTERM or SIGINT, drain, return 0. Main thread (signal handlers)."""
    check_bind(host, options.token)
    console.redact.add(options.token)
    console.redact.add(options.twilio_auth_token)
    sock = listen(host, port)
    try:
        async with backend(settings, console) as base_url:
            pool = new_http_pool(connect_timeout_s=settings.connect_timeout_s,
                                 stall_timeout_s=settings.stall_timeout_s,
                                 max_connections=max(16, options.max_sessions))
            try:
                hub = Hub(settings, base_url, pool, options, make_session=make_session,
                          redact=console.redact)
                await _serve_until_signal(BridgeServer(hub, sock), console, host)
            finally:
                await pool.aclose()
    finally:
        sock.close()
    return 0


async def _serve_until_signal(server: BridgeServer, console: Console, host: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal() -> None:
        if stop.is_set():  # a second signal: no more waiting for replies
            server.hub.drain_deadline = server.hub.clock()
        stop.set()

    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    try:
        await server.start()
        shown = f"[{host}]" if ":" in host else host
        console.notice(f"bridge: http://{shown}:{server.port}/ (page), "
                       f"ws://{shown}:{server.port}/ws — SIGTERM or Ctrl-C drains and stops")
        stopping = loop.create_task(stop.wait())
        assert server.running is not None
        await asyncio.wait({server.running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        await server.drain()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def run_bridge(settings: Settings, console: Console, args: Any,
               env: dict[str, str] | None = None) -> int:
    """The ``bridge`` command's arguments (and environment) to :func:`bridge`. Main thread."""
    environ = os.environ if env is None else env
    token = args.token or environ.get("VOICEBOT_BRIDGE_TOKEN") or None
    twilio = args.twilio_auth_token or environ.get("TWILIO_AUTH_TOKEN") or None
    console.redact.add(token)
    console.redact.add(twilio)
    if args.max_sessions < 1:
        raise ConfigError("--max-sessions must be at least 1")
    if args.idle_timeout <= 0:
        raise ConfigError("--idle-timeout must be a positive number of seconds")
    options = BridgeOptions(token=token, origins=tuple(args.allow_origin or ()),
                            max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout,
                            twilio_auth_token=twilio)
    return asyncio.run(bridge(settings, console, host=args.host, port=args.port,
                              options=options))
