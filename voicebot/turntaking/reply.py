"""One turn's reply as the core tracks it: words, audio received, audio heard. Pure.

The words are released to the listener as the voice reaches them
(:class:`~voicebot.playback.transcript.TranscriptPacer`), SSML markup stripped
when the server renders SSML; what was heard at any moment is the text up to the
playback position, which is what the history keeps after an interruption.
"""

from __future__ import annotations

from ..playback.transcript import TranscriptPacer
from ..protocol.events import (
    AudioDelta,
    Done,
    RefusalDelta,
    StreamEvent,
    TextDelta,
    TranscriptDelta,
)
from ..protocol.ssml import SSMLStripper

__all__ = ["ReplyTrack", "REPLY_SAMPLE_RATE", "MAX_CHARS_PER_SECOND"]

#: The API's audio: PCM16 mono 24 kHz; reply positions count these samples.
REPLY_SAMPLE_RATE = 24_000
#: A ceiling on speaking rate while the reply still streams (see TranscriptPacer):
#: 175 words a minute (eSpeak's default, faster than most TTS voices) at about
#: 5.5 characters a word, spaces included, is 16 characters a second.
MAX_CHARS_PER_SECOND = 16.0


class ReplyTrack:
    """Words and audio of one reply; single-threaded (the core's caller's)."""

    def __init__(self, *, strip_ssml: bool) -> None:
        self._stripper = SSMLStripper() if strip_ssml else None
        self._pacer = TranscriptPacer(max_chars_per_frame=MAX_CHARS_PER_SECOND / REPLY_SAMPLE_RATE)
        self._seen_transcript = False
        self.audio_bytes = 0
        self.ended = False
        #: Reply samples that had reached the listener at :attr:`heard_at`.
        self.heard_samples = 0
        self.heard_at: float | None = None
        #: When the reply's first sample reached the listener (None: not yet).
        self.first_sound_at: float | None = None

    @property
    def audio_samples(self) -> int:
        return self.audio_bytes // 2

    def feed(self, event: StreamEvent) -> str:
        """Take a stream event; return words that became known (plain text, maybe "")."""
        if isinstance(event, AudioDelta):
            self.audio_bytes += len(event.pcm)
            self._pacer.feed_audio(len(event.pcm) // 2)
            return ""
        if isinstance(event, TranscriptDelta):
            self._seen_transcript = True
            return self._words(event.text)
        if isinstance(event, TextDelta):
            # Servers that speak send the words as the audio's transcript; content is
            # shown only when there is no transcript (text-only replies).
            return "" if self._seen_transcript else self._words(event.text)
        if isinstance(event, RefusalDelta):
            return self._words(event.text)
        if isinstance(event, Done):
            return self.end()
        return ""

    def _words(self, text: str) -> str:
        if self._stripper is not None:
            text = self._stripper.feed(text)
        self._pacer.feed_text(text)
        return text

    def end(self) -> str:
        """The stream ended: words held back by the SSML stripper come out now."""
        if self.ended:
            return ""
        self.ended = True
        tail = ""
        if self._stripper is not None:
            tail = self._stripper.end()
            self._pacer.feed_text(tail)
        self._pacer.end_of_stream()
        return tail

    def heard(self, heard_samples: int, at: float) -> None:
        """``heard_samples`` of the reply had reached the listener at time ``at``."""
        if heard_samples > 0 and self.first_sound_at is None:
            self.first_sound_at = at - heard_samples / REPLY_SAMPLE_RATE
        if heard_samples >= self.heard_samples:
            self.heard_samples, self.heard_at = heard_samples, at

    def heard_by(self, now: float) -> int:
        """Samples heard by ``now``: the last report, extrapolated at real time
        (playback runs on while reports are a few ms old), capped at what arrived."""
        if self.heard_at is None or self.heard_samples == 0:
            return self.heard_samples
        ahead = max(0.0, now - self.heard_at) * REPLY_SAMPLE_RATE
        return min(self.audio_samples, self.heard_samples + int(ahead))

    def due(self, heard_samples: int) -> str:
        """Words newly due at ``heard_samples`` (each released once)."""
        return self._pacer.advance(heard_samples)

    def rest(self) -> str:
        """Every word not released yet (the reply ended, or there is no audio)."""
        return self._pacer.flush()

    def heard_text(self, heard_samples: int) -> str:
        """The transcript up to ``heard_samples``: what the listener has heard, in whole
        words (a cut inside a word keeps the words before it: the history should not
        end in half a word, and a listener cut off mid-word did not hear it said)."""
        text = self._pacer.text
        n = self._pacer.due_chars(heard_samples)
        if 0 < n < len(text) and not text[n].isspace() and not text[n - 1].isspace():
            n = max((i for i in range(n) if text[i].isspace()), default=0)
        return text[:n]

    @property
    def text(self) -> str:
        return self._pacer.text
