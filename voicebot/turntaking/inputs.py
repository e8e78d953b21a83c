"""What a driver feeds the turn-taking core, and what the core asks of it.

Inputs describe what happened (nouns, past tense); commands say what to do now.
Times are monotonic seconds on the driver's clock (``time.monotonic``), passed in;
capture positions are 16 kHz samples since capture started; reply positions are
samples of the reply's 24 kHz audio as received.

Pure data: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from ..capture.events import Event as DetectorEvent
from ..capture.segmenter import SAMPLE_RATE as CAPTURE_RATE
from ..protocol.events import StreamEvent

__all__ = [
    "Detected", "PlaybackProgress", "StreamInput", "TurnFinished", "TurnFailed",
    "TurnCancelled", "TimerDue", "TypedText", "UserParts", "InterruptRequest", "WakeWord",
    "WakeWordEnd", "PushToTalk", "InputEnded", "Tick", "Input", "TurnReport",
    "StartTurn", "ConfirmTurn", "DiscardTurn", "CancelTurn", "SetMuted", "PlayEarcon", "Say",
    "Stop", "WakeAt", "Command",
]


# ------------------------------------------------------------------------------ inputs

@dataclass(frozen=True)
class Detected:
    """A capture report: a detector event (None: progress while speech goes on).

    ``position`` is the capture position when it was made, ``at`` the time the sample
    at ``position`` was captured; ``voiced_end`` (inside speech) where the last voiced
    frame ended: speech is measured up to there, not through the hang-over's silence.
    """
    event: DetectorEvent | None
    position: int
    at: float
    voiced_end: int | None = None

    def time_of(self, sample: int) -> float:
        """When capture sample ``sample`` was captured (16 kHz positions)."""
        return self.at - (self.position - sample) / CAPTURE_RATE


@dataclass(frozen=True)
class PlaybackProgress:
    """``heard_samples`` of turn ``turn``'s reply had reached the listener at ``at``."""
    turn: int
    heard_samples: int
    at: float


@dataclass(frozen=True)
class StreamInput:
    """One event of turn ``turn``'s response stream, as it arrived."""
    turn: int
    event: StreamEvent


@dataclass(frozen=True)
class TurnReport:
    """What the driver knows about a finished turn (monotonic times, None: unknown)."""
    text: str = ""
    audio_bytes: int = 0
    audio_id: str | None = None
    finish_reason: str | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    requests: int = 0
    request_sent: float | None = None
    first_byte: float | None = None
    first_audio: float | None = None
    done: float | None = None
    first_sound: float | None = None
    underruns: int | None = None
    tool_calls: tuple[tuple[str, str, str], ...] = ()  # (name, arguments, result)


@dataclass(frozen=True)
class TurnFinished:
    """Turn ``turn`` completed and its reply was played to the end."""
    turn: int
    report: TurnReport


@dataclass(frozen=True)
class TurnFailed:
    """Turn ``turn`` failed with ``message``; what arrived before was played."""
    turn: int
    message: str
    report: TurnReport = field(default_factory=TurnReport)


@dataclass(frozen=True)
class TurnCancelled:
    """Turn ``turn`` stopped after a :class:`CancelTurn` (its task has ended)."""
    turn: int


@dataclass(frozen=True)
class TimerDue:
    """A timer set in this conversation fired; ``text`` is what to tell the user."""
    id: str
    label: str | None
    text: str


@dataclass(frozen=True)
class TypedText:
    """The user typed ``text`` (a turn of its own)."""
    text: str


@dataclass(frozen=True)
class UserParts:
    """A turn made of ready content parts (``ask``: text, audio file, image).

    ``text`` is what to show as the user's words; ``audio_s`` the speech's length.
    """
    parts: tuple[dict[str, Any], ...]
    text: str | None = None
    audio_s: float | None = None


@dataclass(frozen=True)
class InterruptRequest:
    """Stop the reply now (a command from a button, a client, a signal)."""


@dataclass(frozen=True)
class WakeWord:
    """The wake word ``name`` ended at capture ``position``."""
    name: str
    position: int
    at: float


@dataclass(frozen=True)
class WakeWordEnd:
    """The wake word last reported ended at capture ``position`` after all: placed again
    by the detector a few hundred ms after the :class:`WakeWord` (its earcon need not
    wait), before the question that follows it is cut."""
    position: int


@dataclass(frozen=True)
class PushToTalk:
    """The talk button went down (``pressed``) or up."""
    pressed: bool
    at: float


@dataclass(frozen=True)
class InputEnded:
    """No more input will come (the file ended, the client left): finish and stop."""


@dataclass(frozen=True)
class Tick:
    """Time passed, nothing else: the moment a :class:`WakeAt` asked for came."""


Input = Union[Detected, PlaybackProgress, StreamInput, TurnFinished, TurnFailed, TurnCancelled,
              TimerDue, TypedText, UserParts, InterruptRequest, WakeWord, WakeWordEnd, PushToTalk,
              InputEnded, Tick]


# ------------------------------------------------------------------------------ commands

@dataclass(frozen=True)
class StartTurn:
    """Send these content parts as turn ``turn`` (``user_text``: the typed words).

    ``preemptive``: the user has only paused; the request goes now so that its answer
    is ready if the pause turns out to be the end of the turn. Hold the answer back
    (play nothing, feed the core nothing of it, run no tools) until
    :class:`ConfirmTurn`; on :class:`DiscardTurn` drop it and leave no trace of it
    in the history.
    """
    turn: int
    parts: tuple[dict[str, Any], ...]
    user_text: str | None = None
    preemptive: bool = False


@dataclass(frozen=True)
class ConfirmTurn:
    """The preemptive turn ``turn`` is the user's turn after all: release its answer
    (what was held back first, in order) and carry on as with any turn."""
    turn: int


@dataclass(frozen=True)
class DiscardTurn:
    """The user went on speaking: stop the preemptive turn ``turn`` and forget it (the
    history as if it had never been sent). Feed :class:`TurnCancelled` once its task
    has ended."""
    turn: int


@dataclass(frozen=True)
class CancelTurn:
    """Stop turn ``turn`` now: hang up its stream, fade its audio out. When
    ``heard_text`` is not None, the history keeps only that much of the reply.
    Feed :class:`TurnCancelled` once the turn's task has ended."""
    turn: int
    heard_text: str | None


@dataclass(frozen=True)
class SetMuted:
    """Stop (True) or resume (False) listening: the microphone hears the speaker."""
    muted: bool


@dataclass(frozen=True)
class PlayEarcon:
    """Play the short sound ``name``: wake, thinking, done, error, timer."""
    name: str


@dataclass(frozen=True)
class Say:
    """Say ``text`` to the user unprompted (a timer that fired)."""
    text: str


@dataclass(frozen=True)
class Stop:
    """The conversation is over (input ended, turn limit reached): shut down."""
    reason: str


@dataclass(frozen=True)
class WakeAt:
    """Feed a :class:`Tick` at monotonic time ``at`` (it replaces any earlier one): the
    core has something to decide then with no input to say so (the follow-up window
    after a reply closes: "listening" goes back to "sleeping")."""
    at: float


Command = Union[StartTurn, ConfirmTurn, DiscardTurn, CancelTurn, SetMuted, PlayEarcon, Say, Stop,
                WakeAt]
