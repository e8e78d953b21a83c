"""The wake word in the capture chain: the detector on the capture thread, its
detections handed to the loop as :class:`~voicebot.turntaking.inputs.WakeWord` inputs.

:class:`WakeTap` is a capture tap (``capture.worker.Tap``): the capture thread calls
it with every converted 16 kHz block beside the utterance detector (never while
listening is muted: the model then rests, and warms up again on the next block).
It runs the :class:`~.wakeword.WakeWordDetector` there and posts each detection
to the loop with ``call_soon_threadsafe``: ``on_wake(name, end_position, at)``,
``at`` being when the wake word's last sample was captured, and later, when the
detector has placed the word's end again from the score's peak (:mod:`.wakeend`),
``on_wake_end(end_position)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from ..capture.vad import VadFramer
from .wakeword import WakeWordDetector

__all__ = ["WakeTap"]

_log = logging.getLogger(__name__)


class WakeTap:
    """Capture thread: ``__call__``; the loop only constructs it and reads counters."""

    def __init__(self, detector: WakeWordDetector, loop: asyncio.AbstractEventLoop,
                 on_wake: Callable[[str, int, float], None],
                 on_wake_end: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 voiced: Callable[[], bool] | None = None,
                 classify: Callable[[bytes], bool] | None = None) -> None:
        self.detector = detector
        # A VAD of its own on the audio the tap hears (30 ms frames), when that is not
        # what the detector classifies (echo cancellation: the detector's verdicts are
        # on guarded audio, where a talker over the reply starts late, after the wake
        # word's warm-up window has passed it).
        self._classify = classify
        self._framer = VadFramer(30)
        # The VAD's verdict on the block (capture.vadmodels.VoicedTap.take): what the
        # detector was measured with; else the segmenter's "inside speech".
        self._voiced = voiced
        self._loop = loop
        self._on_wake = on_wake
        self._on_wake_end = on_wake_end
        self._clock = clock
        #: Wake words detected (capture thread writes).
        self.detections = 0

    def __call__(self, pcm16: bytes, position: int, voiced: bool) -> None:
        samples = np.frombuffer(pcm16, dtype="<i2")
        if self._voiced is not None:
            voiced = self._voiced()
        if self._classify is not None:
            voiced = any([self._classify(frame) for frame in self._framer.push(pcm16)])
        found = self.detector.feed(samples, position, voiced)
        placed = self.detector.placed()
        for run in self.detector.runs():
            # Why a wake word was (not) heard: one line per run of speech, with -v.
            _log.debug("wake word: speech at %.2f-%.2f s of capture, best score %.2f "
                       "at %.2f s (fires at %.2f), %d chunks", run.start_position / VAD_SAMPLE_RATE,
                       run.end_position / VAD_SAMPLE_RATE, run.best_score,
                       run.best_position / VAD_SAMPLE_RATE, run.threshold, run.chunks)
        if not found and not placed:
            return
        # The block's last sample was captured about now (the reports' own `at`
        # is finer; the core uses the position, the time is for the records).
        end, now = position + len(samples), self._clock()
        try:
            for d in found:
                self.detections += 1
                at = now - (end - d.end_position) / VAD_SAMPLE_RATE
                self._loop.call_soon_threadsafe(self._on_wake, d.name, d.end_position, at)
            if self._on_wake_end is not None:
                for p in placed:
                    self._loop.call_soon_threadsafe(self._on_wake_end, p.end_position)
        except RuntimeError:  # the loop closed during shutdown
            return
