"""Events decoded from a streamed chat completion (and from a non-streamed response).

They are small frozen dataclasses, nouns, in the order the server sent them. The
session layer turns them into history, playback and printed output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class RoleDelta:
    role: str


@dataclass(frozen=True)
class TextDelta:
    """A piece of ``delta.content``."""
    text: str


@dataclass(frozen=True)
class RefusalDelta:
    text: str


@dataclass(frozen=True)
class TranscriptDelta:
    """A piece of ``delta.audio.transcript`` (the spoken reply as text)."""
    text: str


@dataclass(frozen=True)
class AudioDelta:
    """Decoded PCM16 LE mono 24 kHz bytes; always a whole number of samples.

    An odd trailing byte of one delta is carried into the next one, never dropped
    or padded.
    """
    pcm: bytes


@dataclass(frozen=True)
class AudioFile:
    """A whole audio file from a non-streamed response (``format`` wav, mp3, flac, opus…).

    Only :func:`voicebot.protocol.stream.decode_response` emits it, for formats other
    than pcm16; decode it with :mod:`voicebot.audio` before playing.
    """
    data: bytes
    format: str


@dataclass(frozen=True)
class AudioInfo:
    """``delta.audio.id`` and/or ``delta.audio.expires_at`` (epoch seconds) were seen."""
    audio_id: str | None = None
    expires_at: int | None = None


@dataclass(frozen=True)
class ToolCallDelta:
    """A partial tool call: pieces with the same ``index`` concatenate."""
    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Finished:
    """``finish_reason`` of a choice (``stop``, ``length``, ``tool_calls``, …)."""
    reason: str


@dataclass(frozen=True)
class UsageReport:
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerError:
    """An ``{"error": {...}}`` event inside the stream."""
    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None


@dataclass(frozen=True)
class InputTranscript:
    """What the server recognised in the user's audio: voicebot's own extension
    ``"voicebot": {"input_transcript": ...}`` at a chunk's (or response's) top level,
    sent by the embedded server; other servers send nothing of the kind."""
    text: str


@dataclass(frozen=True)
class Done:
    """``data: [DONE]`` (or, from :meth:`end`, the body ended cleanly without it)."""


StreamEvent = Union[RoleDelta, TextDelta, RefusalDelta, TranscriptDelta, AudioDelta, AudioInfo,
                    ToolCallDelta, Finished, UsageReport, ServerError, Done, AudioFile,
                    InputTranscript]
