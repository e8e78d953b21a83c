"""One connection's outgoing messages: in order, bounded, written by one task.

Everything a connection sends (reply audio, event records, Twilio media) goes
through its :class:`Outbox`, so a client that reads slowly costs at most
``max_bytes`` of memory and never blocks the conversation: producers only queue
(dropping when full), the writer task alone waits on the socket's backpressure,
and :meth:`Outbox.stalled_for` tells the connection how long it has waited.
Reply audio still queued can be dropped at once on barge-in (:meth:`drop_audio`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["Outbox"]


class Outbox:
    """Queue messages for ``send`` (the transport's, which awaits backpressure).

    Loop thread only. Start :meth:`run` as a task; :meth:`put` never waits.
    ``max_bytes`` bounds what may wait here (text counted as its UTF-8 length at
    most 4 bytes a character); beyond it messages are dropped and counted in
    :attr:`dropped`: the connection is closed soon anyway (see ``stalled_for``).
    """

    def __init__(self, send: Callable[[bytes | str], Awaitable[None]], *,
                 max_bytes: int = 1 << 20, clock: Callable[[], float] = time.monotonic) -> None:
        self._send = send
        self.max_bytes = max_bytes
        self._clock = clock
        # (message, size, is_audio)
        self._queue: deque[tuple[bytes | str, int, bool]] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._sending_since: float | None = None
        self._closed = False
        #: Messages dropped because the queue was full.
        self.dropped = 0
        #: Bytes handed to the transport so far.
        self.sent_bytes = 0

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def put(self, message: bytes | str, *, audio: bool = False) -> bool:
        """Queue ``message``; False if it was dropped (queue full or outbox closed)."""
        size = len(message) if isinstance(message, bytes) else 4 * len(message)
        if self._closed or self._bytes + size > self.max_bytes:
            self.dropped += 1
            return False
        self._queue.append((message, size, audio))
        self._bytes += size
        self._wake.set()
        return True

    def drop_audio(self) -> int:
        """Forget the audio not yet sent (barge-in); return its size in bytes."""
        kept = deque(item for item in self._queue if not item[2])
        dropped = sum(item[1] for item in self._queue if item[2])
        self._queue = kept
        self._bytes -= dropped
        return dropped

    def stalled_for(self, now: float) -> float:
        """How long the writer has been waiting on one send (0: not waiting)."""
        since = self._sending_since
        return 0.0 if since is None else max(0.0, now - since)

    def close(self) -> None:
        """Accept nothing more; :meth:`run` returns once the queue is empty."""
        self._closed = True
        self._wake.set()

    async def run(self) -> None:
        """The writer: send queued messages in order until closed and empty.

        Transport errors (the client went away) propagate to the caller.
        """
        while True:
            while not self._queue:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
            message, size, _ = self._queue.popleft()
            self._bytes -= size
            self._sending_since = self._clock()
            try:
                await self._send(message)
            finally:
                self._sending_since = None
            self.sent_bytes += len(message) if isinstance(message, bytes) else size
