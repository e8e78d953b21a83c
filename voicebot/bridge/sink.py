"""Reply audio to a websocket client: the :class:`~voicebot.playback.sinks.Sink`
contract over a connection's :class:`~.outbox.Outbox`.

The upstream's PCM16 24 kHz bytes go out bit for bit as binary frames (cut into
whole samples, at most ``frame_ms`` each). Where the listener is comes from the
client: ``{"type": "played", "samples": N}`` counts the reply samples it has
played since the connection started, in the order they were sent (audio it
dropped after an ``interrupted`` event counts as played). A client that never
reports is assumed to play in real time from the first frame sent; one that
stops reporting is not waited for longer than ``report_timeout_s`` past the
reply's real-time end, so a silent client cannot hold a conversation forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..playback.sinks import Pcm16Joiner
from .outbox import Outbox
from .wire import OUTPUT_SAMPLE_RATE

__all__ = ["PositionTracker", "TrackedSink", "WebsocketSink"]


class PositionTracker:
    """Which of a connection's reply samples the listener has heard. Loop thread.

    Shared by the websocket and the Twilio sinks: both count samples sent over the
    connection (24 kHz), learn the listener's position from the client, and fall back
    to real time from the first sample sent when the client says nothing.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 report_timeout_s: float = 2.0) -> None:
        self._clock = clock
        self.report_timeout_s = report_timeout_s
        self.sent_total = 0  # samples sent over the connection
        self.reply_start = 0  # sent_total when the current reply began
        self.reply_open = False  # pushes belong to the current reply
        self.ended = False  # the current reply's stream ended (or it was cancelled)
        self.cancelled = False
        self.first_send_at: float | None = None
        self._reported: int | None = None  # the client's count (None: never reported)
        self._progress_at: float | None = None  # when the count last advanced
        self._first_sound_at: float | None = None
        self._changed = asyncio.Event()

    # -- replies ----------------------------------------------------------------------

    def begin_if_needed(self) -> None:
        """A push arrived: open a new reply unless one is open."""
        if not self.reply_open:
            self.reply_open = True
            self.ended = self.cancelled = False
            self.reply_start = self.sent_total
            self.first_send_at = self._first_sound_at = None

    def sent(self, samples: int) -> None:
        if samples and self.first_send_at is None:
            self.first_send_at = self._clock()
        self.sent_total += samples

    def unsent(self, samples: int) -> None:
        """Samples counted as sent were dropped before reaching the client."""
        self.sent_total -= samples

    def end(self, *, cancelled: bool = False) -> None:
        self.reply_open = False
        self.ended = True
        self.cancelled = self.cancelled or cancelled
        self._changed.set()

    @property
    def reply_samples(self) -> int:
        return self.sent_total - self.reply_start

    # -- the client's reports ---------------------------------------------------------

    def played(self, samples: int, now: float) -> None:
        """The client has played ``samples`` since the connection started."""
        samples = min(samples, self.sent_total)  # never more than it was sent
        previous = self._reported
        if previous is not None and samples <= previous:
            return
        self._reported = samples
        self._progress_at = now
        if (self._first_sound_at is None and self.first_send_at is not None
                and samples > self.reply_start):
            self._first_sound_at = now
        self._changed.set()

    def heard_samples(self, now: float) -> int:
        if self._reported is not None:
            heard = self._reported - self.reply_start
        elif self.first_send_at is not None:
            heard = int((now - self.first_send_at) * OUTPUT_SAMPLE_RATE)
        else:
            heard = 0
        return max(0, min(heard, self.reply_samples))

    @property
    def first_sound_at(self) -> float | None:
        if self._reported is None:
            return self.first_send_at
        return self._first_sound_at

    # -- draining ---------------------------------------------------------------------

    def _realtime_end(self) -> float:
        start = self.first_send_at if self.first_send_at is not None else self._clock()
        return start + self.reply_samples / OUTPUT_SAMPLE_RATE

    def _deadline(self, now: float) -> float:
        """When to consider the reply heard although the client has not said so."""
        end = self._realtime_end()
        if self._reported is None:
            return end
        last = self._progress_at if self._progress_at is not None else now
        return max(end, last) + self.report_timeout_s

    async def drained(self) -> None:
        """Return once the current reply has been heard (or cancelled)."""
        while True:
            now = self._clock()
            if self.cancelled or (self.ended and (
                    self.heard_samples(now) >= self.reply_samples or now >= self._deadline(now))):
                return
            self._changed.clear()
            wait = self._deadline(now) - now if self.ended else None
            try:
                await asyncio.wait_for(self._changed.wait(), wait)
            except asyncio.TimeoutError:
                pass


class TrackedSink:
    """The half of the :class:`~voicebot.playback.sinks.Sink` contract that a client's
    position reports answer (:class:`PositionTracker`); the websocket and the Twilio
    sinks add how their audio goes out. Loop thread."""

    audible = True
    underruns = 0  # clients do not report gaps in their own playback

    def __init__(self, *, clock: Callable[[], float], report_timeout_s: float) -> None:
        self.position = PositionTracker(clock=clock, report_timeout_s=report_timeout_s)

    async def drained(self) -> None:
        await self.position.drained()

    def heard_samples(self, now: float) -> int:
        return self.position.heard_samples(now)

    @property
    def first_sound_at(self) -> float | None:
        return self.position.first_sound_at

    def close(self) -> None:
        return None


class WebsocketSink(TrackedSink):
    """Reply audio as binary frames to one websocket client. Loop thread.

    ``frame_ms`` caps a frame's length (deltas of a second or more are cut; the
    bytes stay exactly the upstream's). Feed the client's ``played`` reports to
    :meth:`on_played`.
    """

    def __init__(self, outbox: Outbox, *, frame_ms: int = 200,
                 clock: Callable[[], float] = time.monotonic,
                 report_timeout_s: float = 2.0) -> None:
        super().__init__(clock=clock, report_timeout_s=report_timeout_s)
        self._outbox = outbox
        self._frame_bytes = OUTPUT_SAMPLE_RATE * frame_ms // 1000 * 2
        self._joiner = Pcm16Joiner()

    def push_pcm16(self, pcm: bytes) -> None:
        self.position.begin_if_needed()
        whole = self._joiner.whole(pcm)
        step = self._frame_bytes
        for i in range(0, len(whole), step):
            frame = whole[i:i + step]
            if self._outbox.put(frame, audio=True):
                self.position.sent(len(frame) // 2)

    def end_of_stream(self) -> None:
        self._joiner.reset()
        self.position.end()

    def cancel(self) -> None:
        self._joiner.reset()
        self.position.unsent(self._outbox.drop_audio() // 2)
        self.position.end(cancelled=True)

    def on_played(self, samples: int, now: float) -> None:
        self.position.played(samples, now)
