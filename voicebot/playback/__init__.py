"""Playback: streamed reply audio → jitter buffer → speaker (or a WAV file), and
transcript text paced to the audio.

- :class:`JitterBuffer` (pure): prebuffer, underrun fades, cancel; SPSC ring. When it
  starts playing is a :class:`JitterPolicy` (fixed prebuffer, or adaptive).
- :class:`TranscriptPacer` (pure): releases transcript characters as audio plays.
- :class:`Speaker` (I/O edge, PortAudio), :class:`WavSink`, :class:`NullSink`: the
  :class:`Sink` implementations the session pushes audio deltas into.

:class:`Speaker` is imported on first use, so that importing the pure parts
(``voicebot.playback.jitter`` and friends) loads no audio or asyncio machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .jitter import JitterBuffer, JitterPolicy, PlaybackState
from .sinks import NullSink, Sink, WavSink
from .transcript import TranscriptPacer

if TYPE_CHECKING:
    from .speaker import Speaker

__all__ = ["JitterBuffer", "JitterPolicy", "PlaybackState", "TranscriptPacer", "Speaker", "Sink",
           "WavSink", "NullSink"]


def __getattr__(name: str) -> Any:
    if name == "Speaker":
        from .speaker import Speaker
        return Speaker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
