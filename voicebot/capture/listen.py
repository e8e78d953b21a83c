"""Listening to an audio source: its blocks through the detector, as reports or utterances.

:func:`capture_events` joins any source (a :class:`~.mic.MicrophoneSource`, a
:class:`~.filesource.FileSource`, a network client's stream: an :class:`AudioSource`)
to an :class:`~.vad.UtteranceDetector` and yields what capture tells the event loop
(:class:`~.report.CaptureReport`). For the microphone the work runs on its capture
thread (``worker.py``), which wakes the loop only with reports; any other source is
converted and classified on the event loop, block by block. :func:`utterances` keeps
only the finished utterances. Both are async generators consumed on the loop thread.

Typical use from the pipeline (one task that keeps pulling)::

    detector = UtteranceDetector(SegmenterConfig())
    async with MicrophoneSource(device, asyncio.get_running_loop()) as mic:
        async for report in capture_events(mic, detector):
            ...                                     # hand over, keep pulling

Muting the microphone while the reply plays: see :mod:`.mic`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..audio import VAD_SAMPLE_RATE, encode_wav
from .events import UtteranceEnded
from .mic import MicrophoneSource
from .report import CaptureReport
from .vad import CaptureConverter, UtteranceDetector
from .worker import CaptureProcessor, Tap

__all__ = ["AudioSource", "Utterance", "capture_events", "utterances", "utterance_wav"]


class AudioSource(Protocol):
    """Anything :func:`utterances` can read: float32 blocks (frames, channels), or int16
    mono blocks (frames,) as a network client sends them.

    A consumer may rely on a yielded block only until it asks for the next one;
    copy it to keep it longer. (Both sources here yield arrays nobody else
    writes to, but the protocol promises no more than that.)
    """

    sample_rate: int
    channels: int

    def blocks(self) -> AsyncGenerator[np.ndarray, None]: ...


@dataclass(frozen=True)
class Utterance:
    """One utterance: PCM16 16 kHz mono, times in seconds since the source started."""

    pcm16: bytes
    start_s: float
    end_s: float
    reason: str
    sample_rate: int = VAD_SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.pcm16) / 2 / self.sample_rate


def utterance_wav(u: Utterance) -> bytes:
    """The utterance as a WAV file, ready to base64 into an ``input_audio`` part."""
    return encode_wav(u.pcm16, u.sample_rate)


async def capture_events(source: AudioSource, detector: UtteranceDetector, *,
                         clock: Callable[[], float] = time.monotonic,
                         processor: CaptureProcessor | None = None, tap: Tap | None = None,
                         ) -> AsyncGenerator[CaptureReport, None]:
    """Every detector event for ``source``, and progress while speech goes on.

    Loop thread (the consumer's). For a :class:`MicrophoneSource` the work runs on
    its capture thread, which owns ``detector`` until this generator ends (see
    ``worker.py``; only ``detector.muted`` may be set meanwhile, from the loop).
    Any other source is pulled block by block and converted on the loop. Either
    way each detector event comes wrapped in a :class:`CaptureReport`, and at the
    end of the source the converter and the detector are flushed. ``clock`` gives
    the reports' ``at``; the capture thread calls it too. ``processor`` (microphone
    only: echo cancellation needs real capture times) runs on each converted block
    before the detector, on the capture thread. ``tap`` sees every converted block
    beside the detector (``worker.Tap``; on the loop for a file).
    """
    if isinstance(source, MicrophoneSource):  # its own half of this: MicrophoneSource.reports
        async with contextlib.aclosing(source.reports(detector, clock, processor,
                                                      tap)) as reports:
            async for report in reports:
                yield report
        return
    converter = CaptureConverter(source.sample_rate, source.channels)
    async with contextlib.aclosing(source.blocks()) as blocks:
        async for block in blocks:
            at = clock()
            pcm, start = converter.feed(block), detector.position
            events = detector.feed(pcm)
            if tap is not None and not detector.muted:
                tap(pcm, start, detector.in_speech)
            position = detector.position
            voiced = detector.voiced_end if detector.in_speech else None
            for event in events:
                yield CaptureReport(event, position, at, voiced)
            if detector.in_speech:
                yield CaptureReport(None, position, at, voiced)
    events = detector.feed(converter.flush()) + detector.end()
    at, position = clock(), detector.position
    for event in events:
        yield CaptureReport(event, position, at)


async def utterances(source: AudioSource,
                     detector: UtteranceDetector) -> AsyncGenerator[Utterance, None]:
    """The finished utterances of ``source``, one at a time, in order."""
    rate = VAD_SAMPLE_RATE
    async with contextlib.aclosing(capture_events(source, detector)) as reports:
        async for report in reports:
            ev = report.event
            if isinstance(ev, UtteranceEnded):
                yield Utterance(ev.pcm, ev.start_sample / rate, ev.end_sample / rate, ev.reason)
