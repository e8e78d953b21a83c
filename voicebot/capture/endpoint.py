"""When has the user stopped speaking? The segmenter's end-of-turn policy: pure.

No I/O, no clock: fed one VAD frame at a time by :class:`~.segmenter.Segmenter`,
time counted in samples.

Two policies (``SegmenterConfig.endpoint``):

``fixed``
    The frame is speech when the VAD says so; the turn ends after ``hangover_ms``
    of non-speech (Home Assistant's rule, 700 ms by default).

``adaptive``
    Two changes, both measured on the synthetic corpus (``scripts/bench_endpoint.py``):

    - A second opinion from the energy envelope: a frame is speech only if the VAD
      says so *and* its level is ``floor_margin_db`` above the noise floor (the
      lowest frame level of the last ``floor_window_ms``; ``start_margin_db`` to
      start an utterance). webrtcvad goes on saying "speech" for 60-120 ms after
      the voice stops (its own hang-over) and, in a loud fan, forever; the level
      falls to the floor within a frame.
    - A hang-over that adapts: ``min_hangover_ms`` in a quiet room, growing
      linearly to ``max_hangover_ms`` as the utterance's signal-to-noise ratio
      (its loudest frame over the floor) falls from ``quiet_snr_db`` to
      ``noisy_snr_db``, because noise hides the soft sounds at the edges of a pause
      (an "f", a trailing "s") and makes a 300 ms pause look 450 ms long. Each pause
      the utterance has already shown raises it further to that pause +
      ``pause_margin_ms`` (at most ``max_hangover_ms``): who pauses long once
      pauses long again.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import numpy as np

__all__ = ["EndpointMode", "Endpointer", "frame_level_db"]

EndpointMode = Literal["fixed", "adaptive"]

#: Level of a frame of digital silence (the log of 0 is not a number).
_SILENT_DB = -100.0


def frame_level_db(frame: bytes) -> float:
    """Mean power of a PCM16 frame after pre-emphasis, in dB re full scale
    (digital silence is -100).

    The pre-emphasis (``x[n] - 0.97 x[n-1]``, as speech recognisers' front ends do)
    takes 30 dB off a 50 Hz hum and most of a fan's or a road's rumble, whose level
    swings from frame to frame and would hide the end of speech (measured: without
    it a -35 dBFS fan kept every turn open), while speech keeps its formants."""
    x = np.frombuffer(frame, dtype="<i2").astype(np.float32)
    y = x[1:] - 0.97 * x[:-1]
    power = float(np.dot(y, y)) / (len(y) * 32768.0 ** 2) if len(y) else 0.0
    return 10 * math.log10(power) if power > 1e-10 else _SILENT_DB


class Endpointer:
    """Classifies frames for the segmenter and says how long a silence ends the turn.

    Owned by one :class:`~.segmenter.Segmenter` (same thread). Durations are in
    samples. Call :meth:`classify` for every frame heard (not for muted ones),
    :meth:`begin` when an utterance starts, :meth:`resumed` when speech comes back
    after a silence that did not end it; :attr:`hangover` is the silence that ends
    the turn now.
    """

    def __init__(self, mode: EndpointMode, *, frame_samples: int, hangover: int,
                 min_hangover: int, max_hangover: int, quiet_snr_db: float,
                 noisy_snr_db: float, floor_margin_db: float, start_margin_db: float,
                 floor_window_frames: int, pause_margin: int, start_window_frames: int) -> None:
        self.mode = mode
        self._frame = frame_samples
        self._fixed = hangover
        self._lo, self._hi = min_hangover, max_hangover
        self._quiet, self._noisy = quiet_snr_db, noisy_snr_db
        self._margin_db = floor_margin_db
        self._window = floor_window_frames
        self._pause_margin = pause_margin
        self._start_margin_db = start_margin_db
        # Sliding minimum of the frame levels: (frame index, level), levels increasing.
        self._levels: deque[tuple[int, float]] = deque()
        self._n = 0  # frames seen
        # Levels of the last start window's speech frames: the onset an utterance begins with.
        self._recent: deque[float] = deque(maxlen=start_window_frames)
        self._peak_db = _SILENT_DB  # loudest speech frame of the current utterance
        self._longest_pause = 0  # longest silence the current utterance went on after

    @property
    def floor_db(self) -> float:
        """The noise floor: the lowest frame level of the window (``-100`` before any frame)."""
        return self._levels[0][1] if self._levels else _SILENT_DB

    @property
    def hangover(self) -> int:
        """Samples of silence that end the turn, given what this utterance has shown."""
        if self.mode == "fixed":
            return self._fixed
        snr = self._peak_db - self.floor_db
        span = self._quiet - self._noisy
        noisiness = 1.0 if span <= 0 else min(1.0, max(0.0, (self._quiet - snr) / span))
        by_noise = self._lo + noisiness * (self._hi - self._lo)
        by_pauses = self._longest_pause + self._pause_margin if self._longest_pause else 0
        h = min(self._hi, max(by_noise, by_pauses))
        return -(-int(h) // self._frame) * self._frame  # whole frames: the silence is counted in frames

    def classify(self, frame: bytes, is_speech: bool) -> tuple[bool, bool]:
        """Whether ``frame`` counts as speech (to start an utterance, to go on with
        one), given the VAD's ``is_speech``."""
        if self.mode == "fixed":
            return is_speech, is_speech
        level = frame_level_db(frame)
        # The floor is taken before this frame joins the window: a frame is never
        # compared with itself. Starting asks less of the level than going on: a
        # short word in loud noise barely stands out, and the start's N-of-M rule
        # already guards against noise.
        floor = self.floor_db
        starts = is_speech and level > floor + self._start_margin_db
        voiced = is_speech and level > floor + self._margin_db
        self._push_level(level)
        self._recent.append(level if voiced else _SILENT_DB)
        if voiced and level > self._peak_db:
            self._peak_db = level
        return starts, voiced

    def begin(self) -> None:
        """A new utterance (its trigger frames just seen): forget the last one's
        pauses and loudness."""
        self._peak_db = max(self._recent, default=_SILENT_DB)
        self._longest_pause = 0

    def resumed(self, silence: int) -> None:
        """Speech came back after ``silence`` samples that did not end the turn."""
        self._longest_pause = max(self._longest_pause, silence)

    def _push_level(self, level: float) -> None:
        n = self._n
        self._n += 1
        while self._levels and self._levels[-1][1] >= level:
            self._levels.pop()
        self._levels.append((n, level))
        if self._levels[0][0] <= n - self._window:
            self._levels.popleft()
