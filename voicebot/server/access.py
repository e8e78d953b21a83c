"""One access line per request (``serve -v``): method, path, status, duration, first audio.

An ASGI middleware around the app. The line goes to the ``voicebot.server.access``
logger at INFO, so it shows only when the command's logging lets INFO through. It never
carries headers, the query string or the body: the API key cannot reach it. Runs on the
server's event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "RequestTiming", "SCOPE_KEY", "timing_of"]

log = logging.getLogger("voicebot.server.access")

#: Where the middleware puts the request's :class:`RequestTiming` in the ASGI scope.
SCOPE_KEY = "voicebot.timing"


@dataclass
class RequestTiming:
    """When a request started and when its first audio was handed to the server."""
    clock: Callable[[], float] = time.perf_counter
    started_s: float = field(init=False)
    first_audio_s: float | None = None

    def __post_init__(self) -> None:
        self.started_s = self.clock()

    def audio_sent(self) -> None:
        """Note that audio is being sent now (only the first call counts)."""
        if self.first_audio_s is None:
            self.first_audio_s = self.clock()

    def line(self, method: str, path: str, status: int | None) -> str:
        took_ms = (self.clock() - self.started_s) * 1000
        first = ("-" if self.first_audio_s is None
                 else f"{(self.first_audio_s - self.started_s) * 1000:.1f} ms")
        return (f"{method} {path} {status if status is not None else '-'} "
                f"{took_ms:.1f} ms first-audio {first}")


def timing_of(scope: Scope) -> RequestTiming | None:
    """The request's timing record, when the app runs behind :class:`AccessLog`."""
    timing = scope.get(SCOPE_KEY)
    return timing if isinstance(timing, RequestTiming) else None


class AccessLog:
    """Logs each HTTP request once its response is complete (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timing = RequestTiming()
        scope[SCOPE_KEY] = timing
        status: int | None = None
        logged = False

        def done() -> None:
            nonlocal logged
            if not logged:
                logged = True
                log.info("%s", timing.line(scope["method"], scope["path"], status))

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done()

        try:
            await self.app(scope, receive, send_and_watch)
        except BaseException:
            status = status if status is not None else 500
            raise
        finally:
            done()  # a client that left mid-stream: logged with what was sent
