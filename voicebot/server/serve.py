"""Run the local API server: ``voicebot serve`` in the foreground, or embedded in-process.

:func:`run_server` blocks the calling (main) thread until Ctrl-C. :func:`start_embedded`
starts the same app on an ephemeral loopback port in a background thread that runs its
own event loop, for the client to use when no base URL is configured.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import uvicorn
from starlette.types import ASGIApp

from ..errors import ConfigError, ConnectError
from .app import create_app
from .completion import ServerState

__all__ = ["run_server", "start_embedded", "EmbeddedServer", "GRACEFUL_SHUTDOWN_S"]

#: Streams still running at shutdown get this long to finish before they are cut.
GRACEFUL_SHUTDOWN_S = 3


def _config(app: ASGIApp, host: str, port: int) -> uvicorn.Config:
    # No access log: a voice session makes a request per utterance, and the CLI shares
    # the terminal with the server when embedded.
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, lifespan="on",
                          server_header=False)


def run_server(host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None) -> None:
    """Serve on ``host:port`` until interrupted (main thread; installs signal handlers).

    Without ``api_key`` anyone who can reach the port may use it, hence loopback by
    default; a warning is printed when binding elsewhere without a key.
    """
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a TCP port number")
    if api_key is None and host not in ("127.0.0.1", "localhost", "::1"):
        print(f"voicebot serve: listening on {host} without --api-key; anyone who can "
              "reach this port can use it", file=sys.stderr)
    server = uvicorn.Server(_config(create_app(api_key=api_key), host, port))
    print(f"voicebot serve: http://{host}:{port} (Ctrl-C stops)", file=sys.stderr)
    try:
        server.run()
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class EmbeddedServer:
    """A server running in a background thread. ``base_url`` is where to send requests.

    Call :meth:`stop` (any thread but the server's own) when done; it is also a context
    manager. The thread is a daemon, so a process that forgets to stop it still exits.
    """

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"

    def stop(self, timeout_s: float = GRACEFUL_SHUTDOWN_S + 2) -> None:
        """Ask the server to finish its requests and exit; wait up to ``timeout_s``."""
        self._server.should_exit = True
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(1.0)

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(*, api_key: str | None = None, state: ServerState | None = None,
                   startup_timeout_s: float = 10.0, warm_up: bool = True) -> EmbeddedServer:
    """Start the server on ``127.0.0.1`` at a free port; return once it accepts requests.

    Call from any thread. The socket is bound here, before the thread starts, so the port
    is known and nothing else can take it. Raises ``ConnectError`` if it does not start.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(api_key=api_key, state=state, warm_up=warm_up)
    server = uvicorn.Server(_config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name="voicebot-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    # uvicorn offers no startup event to wait on, only the ``started`` flag.
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise ConnectError("the embedded local server did not start")
        time.sleep(0.005)
    return EmbeddedServer(server, thread, port)
