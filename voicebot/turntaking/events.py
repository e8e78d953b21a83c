"""The event records: what a conversation tells the world, one schema for every transport.

``voicebot chat --json`` prints exactly these, one JSON object per line
(:meth:`Event.to_dict`); the websocket bridge and the kiosk screen send the same
objects. Every record has a ``type`` (its name) and plain JSON fields. Times are
seconds (``*_s``) or milliseconds (``*_ms``); ``turn`` numbers count from 1 within
one conversation.

Pure data: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "Event", "Listening", "Backend", "StateChanged", "UtteranceDetected", "UtteranceIgnored",
    "UserSaid", "TranscriptDelta", "AudioReceived", "ToolCallStarted", "ToolCallDone",
    "UsageReported", "TurnDone", "Interrupted", "ErrorEvent", "Notice", "MuteChanged",
    "TimerFired", "TimerSet", "TimerCancelled",
    "Summary", "DeviceStatus", "EVENT_TYPES", "LATENCY_STAGES",
]

#: The stages of ``turn.done``'s ``latency_ms``, in order; each in milliseconds after
#: the end of the user's speech as the VAD placed it.
LATENCY_STAGES = ("endpoint", "request_sent", "first_byte", "first_audio", "first_sound")


@dataclass(frozen=True)
class Event:
    """Base of every record; ``type`` is the name on the wire."""

    type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        """``{"type": …, field: value, …}``: the JSON object sent for this event."""
        out: dict[str, Any] = {"type": self.type}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


@dataclass(frozen=True)
class Listening(Event):
    """Capture runs: ``source`` names the microphone or the file."""
    type: ClassVar[str] = "listening"
    source: str


@dataclass(frozen=True)
class Backend(Event):
    """Which API server the conversation uses (``kind``: ``embedded`` or ``remote``)."""
    type: ClassVar[str] = "backend"
    kind: str
    base_url: str
    startup_ms: int | None = None


@dataclass(frozen=True)
class StateChanged(Event):
    """The conversation's state: ``sleeping`` (waiting for the wake word or the
    talk button), ``listening``, ``thinking`` (a turn is on its way), ``speaking``
    (the reply is audible); ``error`` when the kiosk can neither listen nor answer
    (a device gone, the upstream unreachable), with ``reason`` saying why in one line
    (None for every other state). The next state record ends an ``error``."""
    type: ClassVar[str] = "state"
    state: str
    reason: str | None = None


@dataclass(frozen=True)
class UtteranceDetected(Event):
    """The VAD found an utterance and it becomes turn ``turn`` (reported when the
    turn starts). Times in seconds since capture started."""
    type: ClassVar[str] = "utterance"
    turn: int
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class UtteranceIgnored(Event):
    """Speech that neither interrupts nor becomes a turn. ``reason``: ``backchannel``
    (a short "mm-hmm" over the reply), ``no_wake_word``, ``wake_word_only`` (the wake
    word said alone: the next utterance is the question), ``push_to_talk`` (the talk
    button was not held)."""
    type: ClassVar[str] = "utterance.ignored"
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True)
class UserSaid(Event):
    """The user's side of turn ``turn``: typed ``text``, or ``audio_s`` seconds of
    speech and, when the server said what it recognised (the embedded server does),
    ``transcript``. For speech it comes with the answer's first event."""
    type: ClassVar[str] = "user"
    turn: int
    text: str | None = None
    audio_s: float | None = None
    transcript: str | None = None


@dataclass(frozen=True)
class TranscriptDelta(Event):
    """The assistant's next words, released as the listener hears them."""
    type: ClassVar[str] = "transcript.delta"
    turn: int
    text: str


@dataclass(frozen=True)
class AudioReceived(Event):
    """An audio delta arrived: ``bytes`` of PCM16 24 kHz (``total_bytes`` this turn)."""
    type: ClassVar[str] = "audio"
    turn: int
    bytes: int
    total_bytes: int


@dataclass(frozen=True)
class ToolCallStarted(Event):
    type: ClassVar[str] = "tool_call.start"
    turn: int
    index: int
    name: str


@dataclass(frozen=True)
class ToolCallDone(Event):
    type: ClassVar[str] = "tool_call"
    turn: int
    name: str
    arguments: str
    result: str


@dataclass(frozen=True)
class UsageReported(Event):
    type: ClassVar[str] = "usage"
    turn: int
    usage: dict[str, Any]


@dataclass(frozen=True)
class TurnDone(Event):
    """Turn ``turn`` is over and its reply was heard to the end.

    ``timings_ms``: from the request leaving to its first byte, first audio and end.
    ``latency_ms``: each stage of :data:`LATENCY_STAGES` in ms after the end of the
    user's speech (None where unknown: a typed turn has no end of speech).
    """
    type: ClassVar[str] = "turn.done"
    turn: int
    text: str
    audio_bytes: int
    audio_id: str | None
    finish_reason: str | None
    usage: dict[str, Any] = field(default_factory=dict)
    requests: int = 0
    timings_ms: dict[str, float | None] = field(default_factory=dict)
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    underruns: int | None = None


@dataclass(frozen=True)
class Interrupted(Event):
    """Turn ``turn`` was cut off; ``text`` is what the listener heard of the reply
    (the history keeps just that), ``played_ms`` how much of its audio.
    ``reason``: ``barge_in`` (the user spoke over it) or ``request`` (a command)."""
    type: ClassVar[str] = "interrupted"
    turn: int
    text: str
    played_ms: float
    reason: str


@dataclass(frozen=True)
class ErrorEvent(Event):
    """A failure, one line. ``turn`` is set when a turn failed (the conversation goes on)."""
    type: ClassVar[str] = "error"
    message: str
    turn: int | None = None


@dataclass(frozen=True)
class Notice(Event):
    type: ClassVar[str] = "notice"
    message: str


@dataclass(frozen=True)
class DeviceStatus(Event):
    """An audio device went away or came back (``voicebot.recovery``).

    ``kind``: ``input`` or ``output``. ``state``: ``lost`` (the stream failed, the
    device vanished or is busy, or the sound server moved the stream to another
    device: nothing is heard or played meanwhile), ``back`` (capture or playback
    works again, without a restart). ``retry_in_s``: when ``lost``, the wait before
    the next attempt to open it. ``message``: one line for people.
    """
    type: ClassVar[str] = "device"
    kind: str
    state: str
    device: str
    message: str
    retry_in_s: float | None = None


@dataclass(frozen=True)
class MuteChanged(Event):
    """Listening was switched off (``muted``) or on by the user (a key, the screen)."""
    type: ClassVar[str] = "mute"
    muted: bool


@dataclass(frozen=True)
class TimerFired(Event):
    type: ClassVar[str] = "timer.fired"
    id: str
    label: str | None
    text: str


@dataclass(frozen=True)
class TimerSet(Event):
    """A timer started: it fires ``duration_s`` seconds after this record (``id`` as in
    :class:`TimerFired`)."""
    type: ClassVar[str] = "timer.set"
    id: str
    label: str | None
    duration_s: float


@dataclass(frozen=True)
class TimerCancelled(Event):
    """Timer ``id`` was cancelled (or dropped past the limit on timers) before it fired."""
    type: ClassVar[str] = "timer.cancelled"
    id: str


@dataclass(frozen=True)
class Summary(Event):
    """At the end: how many turns, per latency stage ``{"p50", "p95", "n"}`` in ms, and
    the preemptive requests ``{"sent", "discarded"}`` (discarded: the user went on
    speaking; each was an extra request upstream)."""
    type: ClassVar[str] = "summary"
    turns: int
    latency_ms: dict[str, dict[str, float | int | None]]
    preemptive: dict[str, int] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls for cls in (
        Listening, Backend, StateChanged, UtteranceDetected, UtteranceIgnored, UserSaid,
        TranscriptDelta, AudioReceived, ToolCallStarted, ToolCallDone, UsageReported, TurnDone,
        Interrupted, ErrorEvent, Notice, MuteChanged, TimerFired, TimerSet, TimerCancelled,
        Summary, DeviceStatus)
}
