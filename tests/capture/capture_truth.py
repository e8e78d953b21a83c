"""Ground-truth checks for capture tests (espeak-ng speech from tests/speech.py).

tests/speech.py gives each spoken part's first and last sample above -50 dBFS.
:func:`check_bounds` asserts, in milliseconds:

- onset: the utterance starts at or before the true start, and no earlier than
  pre-roll + one frame before it (the first speech frame contains the onset);
- end: at or after the true end, and at most tail + ``VAD_OVERHANG_MS`` after it;
- the turn is reported between one hang-over and hang-over + ``VAD_OVERHANG_MS``
  after the true end.

webrtcvad keeps saying "speech" for a few frames after the energy stops (its own
hang-over); ``VAD_OVERHANG_MS`` bounds that plus one frame of rounding.
"""

from __future__ import annotations

import numpy as np

from speech import Spoken
from voicebot.audio import float_to_pcm16
from voicebot.capture import SegmenterConfig, UtteranceDetector, UtteranceEnded

RATE = 16_000
CFG = SegmenterConfig()
VAD_OVERHANG_MS = 150


def ms(samples: int) -> float:
    return samples * 1000 / RATE


def detect(x: np.ndarray, cfg: SegmenterConfig = CFG) -> list[tuple[object, int]]:
    """Run the detector in 20 ms chunks; each event with the input position it came at."""
    det = UtteranceDetector(cfg)
    pcm = float_to_pcm16(x)
    out = []
    step = 640
    for i in range(0, len(pcm), step):
        for e in det.feed(pcm[i:i + step]):
            out.append((e, det.position))
    out += [(e, det.position) for e in det.end()]
    return out


def ended(events: list[tuple[object, int]]) -> list[tuple[UtteranceEnded, int]]:
    return [(e, at) for e, at in events if isinstance(e, UtteranceEnded)]


def check_bounds(u: UtteranceEnded, spoken: Spoken, at: int | None, cfg: SegmenterConfig = CFG,
                 slack_ms: float = 0.0) -> None:
    true_start, true_end = spoken.start_s * 1000, spoken.end_s * 1000
    start, end = ms(u.start_sample), ms(u.end_sample)
    assert start <= true_start + slack_ms, f"onset clipped: {start} > {true_start}"
    assert start >= true_start - cfg.preroll_ms - cfg.frame_ms - slack_ms
    assert end >= true_end - slack_ms, f"end clipped: {end} < {true_end}"
    assert end <= true_end + cfg.tail_ms + VAD_OVERHANG_MS + slack_ms
    if at is not None:  # the turn ends one hang-over after the last speech frame
        assert true_end + cfg.hangover_ms <= ms(at) + slack_ms
        assert ms(at) <= true_end + cfg.hangover_ms + VAD_OVERHANG_MS + slack_ms


class RecordingDetector(UtteranceDetector):
    """Keeps everything fed (on whichever thread feeds it), to measure where a
    played file sits in the captured stream."""

    def __init__(self) -> None:
        super().__init__()
        self.fed = bytearray()

    def feed(self, pcm16_16k: bytes):  # type: ignore[no-untyped-def]
        self.fed += pcm16_16k
        return super().feed(pcm16_16k)


def offset_s(stream: np.ndarray, played: np.ndarray) -> float:
    """Where ``played`` starts in ``stream`` (s), by FFT cross-correlation."""
    n = 1 << int(np.ceil(np.log2(len(stream) + len(played))))
    corr = np.fft.irfft(np.fft.rfft(stream, n) * np.conj(np.fft.rfft(played, n)), n)
    lag = int(np.argmax(corr[: len(stream)]))
    return lag / RATE
