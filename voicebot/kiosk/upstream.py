"""Probing the API server with back-off while it cannot be reached. Loop thread.

:class:`UpstreamMonitor` carries out :class:`~.backoff.UpstreamHealth` (pure: the
state and the back-off) on the event loop: its probe is a TCP connection to the
server's host and port (nothing is sent: no key, no cost); the server answering a
real turn also counts as back.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import Callable

from .backoff import Change, UpstreamHealth

__all__ = ["UpstreamMonitor"]


class UpstreamMonitor:
    """Probes the server at ``base_url`` while it is down. Loop thread.

    ``on_change`` runs (loop thread) when it goes down or comes back. ``clock`` is
    the loop's monotonic clock.
    """

    def __init__(self, base_url: str, on_change: Callable[[Change], None], *,
                 connect_timeout_s: float = 5.0,
                 clock: Callable[[], float] | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._on_change = on_change
        self._timeout_s = connect_timeout_s
        self._clock = clock
        self.health = UpstreamHealth()
        self._task: asyncio.Task[None] | None = None

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def failed(self, reason: str) -> None:
        """A turn failed on the transport: the server may be down."""
        change = self.health.failed(reason, self._now())
        if change is not None:
            self._on_change(change)
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._probe_until_up())

    def succeeded(self) -> None:
        """A turn went through."""
        change = self.health.succeeded()
        if change is not None:
            self._on_change(change)

    async def _probe_until_up(self) -> None:
        while not self.health.up and self.health.next_probe_at is not None:
            await asyncio.sleep(max(0.0, self.health.next_probe_at - self._now()))
            if self.health.up:
                return
            change = self.health.probed(await self._reachable(), self._now())
            if change is not None:
                self._on_change(change)

    async def _reachable(self) -> bool:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(self._host, self._port),
                                               self._timeout_s)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
