"""Capture: microphone or file → VAD → utterances (PCM16 16 kHz mono).

- :mod:`.segmenter`: pure state machine, VAD frames → utterance events.
- :mod:`.vad`: pure conversion (:class:`CaptureConverter`), framing and webrtcvad
  (:class:`UtteranceDetector`).
- :mod:`.ring`: pure :class:`~.ring.BlockRing`, the preallocated block pool the
  capture thread copies into for ``blocks()`` (sequence numbers, overwrite detection).
- :mod:`.worker`: the microphone's capture thread (blocking reads; conversion, VAD
  and segmentation where the samples arrive); :mod:`.report`: :class:`CaptureReport`.
- :mod:`.filesource`: :class:`FileSource`, a file standing in for the microphone.
- :mod:`.mic`: the I/O edges (:class:`MicrophoneSource`, :class:`FileSource`) and
  :func:`utterances`, which joins a source to a detector on the event loop.
"""

from __future__ import annotations

from .mic import (
    AudioSource,
    FileSource,
    MicrophoneSource,
    Utterance,
    capture_events,
    utterance_wav,
    utterances,
)
from .segmenter import (
    Event,
    Segmenter,
    SegmenterConfig,
    SpeechStarted,
    UtteranceDiscarded,
    UtteranceEnded,
)
from .vad import CaptureConverter, UtteranceDetector, Vad, VadFramer

__all__ = [
    "AudioSource",
    "CaptureConverter",
    "Event",
    "FileSource",
    "MicrophoneSource",
    "Segmenter",
    "SegmenterConfig",
    "SpeechStarted",
    "Utterance",
    "UtteranceDetector",
    "UtteranceDiscarded",
    "UtteranceEnded",
    "Vad",
    "VadFramer",
    "capture_events",
    "utterance_wav",
    "utterances",
]
