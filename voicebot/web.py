"""What voicebot's web servers share (the bridge, the kiosk's status screen): uvicorn
run as a task on the application's own event loop, and a package's page.

An I/O edge (uvicorn, Starlette): import it only where a server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:  # importlib.resources.abc is new in Python 3.11
    from importlib.resources.abc import Traversable

__all__ = ["LoopServer", "index_page"]


class LoopServer(uvicorn.Server):
    """uvicorn without its signal handlers: the application has its own (the bridge
    drains before it stops; the kiosk stops its audio first). Stop it with
    :meth:`exit` (loop thread).

    And without its 10 Hz poll: uvicorn's main loop wakes every 0.1 s to see whether
    it should exit, about 0.2 % of a core here for a server that serves nothing, a
    tenth of what the whole kiosk may spend idle on a Pi. This one wakes once a
    second (uvicorn's Date header and limits) or at once on :meth:`exit`.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._wake = asyncio.Event()

    def exit(self) -> None:
        """Stop serving: the main loop ends now, then uvicorn shuts down."""
        self.should_exit = True
        self._wake.set()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # a multiple of 10: on_tick's once a second
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None


def index_page(static: Traversable) -> Callable[[Request], Awaitable[Response]]:
    """A route answering ``static/index.html``, never cached (a new version of the
    package is seen at the next load)."""

    async def page(request: Request) -> Response:
        html = (static / "index.html").read_text(encoding="utf-8")
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    return page
