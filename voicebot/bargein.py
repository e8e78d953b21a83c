"""Barge-in: decide when the user's speech should cut off the assistant's reply. Pure.

No I/O, no clock: time is the capture position in samples (16 kHz, the detector's
``position``), passed in with every call. The caller (the chat loop in
``pipeline.py``) feeds the capture's detector events and, once per captured block,
the current position and whether the reply is audible; :meth:`BargeIn.feed` answers
True exactly once when the reply should be interrupted.

The rule (LiveKit's ``min_interruption_duration``, 0.5 s by default)::

    interrupt when the user has been speaking for ``min_speech_ms``, counted from the
    later of: the SpeechStarted event, and the reply's start + ``grace_ms``

"The reply's start" is the first position at which its audio was playing; speech
that ends (``UtteranceEnded``/``UtteranceDiscarded``) before the threshold never
interrupts. Between replies (:meth:`BargeIn.disarm`) nothing interrupts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .capture.segmenter import SAMPLE_RATE, Event, SpeechStarted
from .errors import ConfigError

__all__ = ["BargeIn", "BargeInConfig"]


@dataclass(frozen=True)
class BargeInConfig:
    """When speech over a reply interrupts it; durations in milliseconds."""

    #: Speech this long (after SpeechStarted, itself ~0.3 s after the onset) interrupts.
    min_speech_ms: int = 500
    #: Speech during the reply's first ``grace_ms`` does not count yet.
    grace_ms: int = 0
    #: Rate of the positions passed in (the detector's: 16 kHz).
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if self.min_speech_ms < 0 or self.grace_ms < 0:
            raise ConfigError("barge_in_ms and barge_in_grace_ms must be >= 0")


class BargeIn:
    """The barge-in decision for one reply at a time. Single-threaded (the loop's).

    Call :meth:`arm` when a turn starts, :meth:`feed` with every detector event and
    at least once per captured block (``event=None``), and :meth:`disarm` when the
    turn is over. When :meth:`feed` returns True, cancel the turn now; it will not
    return True again until the next :meth:`arm`.
    """

    def __init__(self, config: BargeInConfig | None = None) -> None:
        self.config = config or BargeInConfig()
        self._min_samples = self.config.min_speech_ms * self.config.sample_rate // 1000
        self._grace_samples = self.config.grace_ms * self.config.sample_rate // 1000
        self._armed = False
        self._reply_start: int | None = None
        # Where the current speech began to count (SpeechStarted), None when silent.
        # Tracked also while disarmed: the user may already be talking when a reply starts.
        self._speech_since: int | None = None

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def reply_start(self) -> int | None:
        """Position at which the armed reply was first seen playing (None: not yet)."""
        return self._reply_start

    def arm(self) -> None:
        """A turn begins: its reply may be interrupted once it plays."""
        self._armed = True
        self._reply_start = None

    def disarm(self) -> None:
        """The turn is over (finished, failed or interrupted)."""
        self._armed = False
        self._reply_start = None

    def feed(self, position: int, *, playing: bool, event: Event | None = None) -> bool:
        """Advance to capture ``position`` (samples); True: interrupt the reply now.

        ``playing`` says whether the reply's audio has started playing by now;
        ``event`` is a detector event that happened at ``position``, if any.
        """
        if event is not None:
            self._speech_since = position if isinstance(event, SpeechStarted) else None
        if not self._armed:
            return False
        if playing and self._reply_start is None:
            self._reply_start = position
        if self._reply_start is None or self._speech_since is None:
            return False
        counted_from = max(self._speech_since, self._reply_start + self._grace_samples)
        if position - counted_from >= self._min_samples:
            self._armed = False  # once per reply
            return True
        return False
