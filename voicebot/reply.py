"""Where one turn's stream events go: audio sinks, and the console at the audio's pace.

:class:`ReplyOutput` is the session's :class:`~voicebot.session.turn.TurnSink`. It runs
on the event loop thread; its pacing task wakes every ``pace_interval_s`` to print the
transcript characters the speaker has reached.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from .console import Console
from .playback.sinks import Sink
from .playback.transcript import TranscriptPacer
from .protocol.events import (
    AudioDelta,
    Done,
    RefusalDelta,
    ServerError,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    TranscriptDelta,
    UsageReport,
)
from .protocol.ssml import SSMLStripper


class ReplyOutput:
    """Routes a turn's events: audio to every sink, words to the console.

    Human mode prints the transcript paced to ``pace_with`` (the speaker), so the words
    keep step with the voice; without a speaker they print as they arrive. JSON mode
    emits every event at once. Call :meth:`finish` after the turn (also after a
    failure): it ends the sinks' streams, waits until they are drained and prints the
    rest of the words.
    """

    def __init__(self, sinks: Sequence[Sink], console: Console, *, pace_with: Sink | None,
                 strip_ssml: bool = False, pace_interval_s: float = 0.03) -> None:
        self.sinks = list(sinks)
        self.console = console
        self.pace_with = pace_with
        self.audio_started = False  # read by the session: no retry once audio played
        self.audio_bytes = 0
        self._stripper = SSMLStripper() if strip_ssml else None
        self._pacer = TranscriptPacer()
        self._seen_transcript = False
        self._ended = False
        self._paced_frames = 0
        self._interval = pace_interval_s
        self._pace_task: asyncio.Task[None] | None = None
        if pace_with is not None and not console.json_mode:
            self._pace_task = asyncio.get_running_loop().create_task(self._pace())

    # -- TurnSink ------------------------------------------------------------------------
    def on_event(self, event: StreamEvent) -> None:
        """Loop thread; must not block."""
        if isinstance(event, AudioDelta):
            for sink in self.sinks:
                sink.push_pcm16(event.pcm)
            self.audio_bytes += len(event.pcm)
            self.audio_started = self.audio_started or self.pace_with is not None
            self.console.event("audio", bytes=len(event.pcm), total_bytes=self.audio_bytes)
        elif isinstance(event, TranscriptDelta):
            self._seen_transcript = True
            self._words(event.text)
        elif isinstance(event, TextDelta):
            # Servers that speak send the words as the audio's transcript; content is
            # shown only when there is no transcript (text-only replies).
            if not self._seen_transcript:
                self._words(event.text)
        elif isinstance(event, RefusalDelta):
            self._words(event.text)
        elif isinstance(event, ToolCallDelta):
            if event.name:
                self.console.event("tool_call.start", index=event.index, name=event.name)
        elif isinstance(event, UsageReport):
            self.console.event("usage", usage=event.usage)
        elif isinstance(event, ServerError):
            pass  # the session raises APIStreamError; the console shows it once
        elif isinstance(event, Done):
            self._stream_ended()

    def _words(self, text: str) -> None:
        if self._stripper is not None:
            text = self._stripper.feed(text)
        if not text:
            return
        # The pacer gets every word, also when they print at once: it also answers
        # what the user has heard so far (barge-in, :meth:`heard_text`).
        self._pacer.feed_text(text)
        if self.console.json_mode or self._pace_task is None:
            self._pacer.flush()  # printed now, not again by finish()
            self.console.assistant_delta(text)

    def _stream_ended(self) -> None:
        if self._ended:
            return
        self._ended = True
        if self._stripper is not None:
            tail = self._stripper.end()
            self._stripper = None
            if tail:
                self._words(tail)
        for sink in self.sinks:
            sink.end_of_stream()
        self._pacer.end_of_stream()

    # -- pacing ----------------------------------------------------------------------------
    def _sync_audio(self) -> None:
        assert self.pace_with is not None
        received = self.pace_with.frames_received
        if received > self._paced_frames:
            self._pacer.feed_audio(received - self._paced_frames)
            self._paced_frames = received

    async def _pace(self) -> None:
        assert self.pace_with is not None
        while not self._pacer.done:
            self._sync_audio()
            self.console.assistant_delta(self._pacer.advance(self.pace_with.frames_played))
            await asyncio.sleep(self._interval)

    @property
    def frames_played(self) -> int:
        """Frames of this reply played by ``pace_with`` (0 before its first audio)."""
        if self.pace_with is None or self.audio_bytes == 0:
            return 0  # the speaker's counters still describe the previous reply
        return self.pace_with.frames_played

    @property
    def played_ms(self) -> float:
        """How much of this reply's audio has played, in milliseconds."""
        if self.pace_with is None:
            return 0.0
        return 1000.0 * self.frames_played / self.pace_with.sample_rate

    def heard_text(self) -> str:
        """The transcript up to the played position: what the user has heard.

        Loop thread. Without a speaker every word was printed as it came: all of it.
        """
        if self.pace_with is None:
            return self._pacer.text
        if self.audio_bytes:
            self._sync_audio()
        return self._pacer.text[:self._pacer.due_chars(self.frames_played)]

    def cancel(self) -> None:
        """Interrupted: stop every sink now (the speaker fades out within 20 ms)."""
        self._ended = True
        for sink in self.sinks:
            sink.cancel()
        if self._pace_task is not None:
            self._pace_task.cancel()
        self.console.assistant_end()

    async def finish(self) -> None:
        """End the reply: drain every sink, print the remaining words, close the line."""
        self._stream_ended()
        try:
            await asyncio.gather(*(sink.drained() for sink in self.sinks))
        finally:
            if self._pace_task is not None:
                self._pace_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pace_task
            self.console.assistant_delta(self._pacer.flush())
            self.console.assistant_end()
