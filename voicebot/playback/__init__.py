"""Playback: streamed reply audio → jitter buffer → speaker (or a WAV file), and
transcript text paced to the audio.

- :class:`JitterBuffer` (pure): prebuffer, underrun fades, cancel; SPSC ring. When it
  starts playing is a :class:`JitterPolicy` (fixed prebuffer, or adaptive).
- :class:`TranscriptPacer` (pure): releases transcript characters as audio plays.
- :class:`Speaker` (I/O edge, PortAudio), :class:`WavSink`, :class:`NullSink`: the
  :class:`Sink` implementations the session pushes audio deltas into.
"""

from __future__ import annotations

from .jitter import JitterBuffer, JitterPolicy, PlaybackState
from .sinks import NullSink, Sink, WavSink
from .speaker import Speaker
from .transcript import TranscriptPacer

__all__ = ["JitterBuffer", "JitterPolicy", "PlaybackState", "TranscriptPacer", "Speaker", "Sink",
           "WavSink", "NullSink"]
