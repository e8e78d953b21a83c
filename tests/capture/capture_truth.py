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
from voicebot.capture.segmenter import Segmenter, SegmenterConfig, SpeechStarted, UtteranceEnded
from voicebot.capture.vad import UtteranceDetector

RATE = 16_000
#: The fixed policy (the VAD's frames, a fixed hang-over): these bounds are its
#: contract. The adaptive policy's are in test_capture_endpoint.py.
CFG = SegmenterConfig(endpoint="fixed")
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


def assert_well_formed(events: list, pcm: bytes, config: SegmenterConfig) -> None:
    """The segmenter's contract on any input: every start has one end, utterances
    come in order and never overlap, ``pcm`` is exactly the input in
    [start, end), lengths within min and max."""
    ms = RATE // 1000
    n_samples = len(pcm) // 2
    last_end = 0
    open_start: int | None = None
    for e in events:
        if isinstance(e, SpeechStarted):
            assert open_start is None, "two starts without an end"
            assert e.start_sample >= last_end, "utterances overlap or go back in time"
            open_start = e.start_sample
            continue
        assert open_start == e.start_sample, "an end without its start"
        assert e.start_sample < e.end_sample <= n_samples
        if isinstance(e, UtteranceEnded):
            assert e.pcm == pcm[e.start_sample * 2:e.end_sample * 2]
            n = e.end_sample - e.start_sample
            assert n <= config.max_utterance_ms * ms
            assert n >= config.min_utterance_ms * ms
            if e.reason == "max_length":
                assert n == config.max_utterance_ms * ms
        last_end = e.end_sample
        open_start = None
    assert open_start is None, "a start never got its end"


def segment(config: SegmenterConfig, pcm: bytes, flags: list[bool],
            mute_at: tuple[int, int] | None = None) -> list:
    """Feed the pure segmenter frame by frame (muted for ``mute_at`` = (first, count)
    frames), checking its position after each; then end the input."""
    fs = config.frame_samples
    seg = Segmenter(config)
    events: list = []
    for i, voiced in enumerate(flags):
        if mute_at is not None:
            seg.muted = mute_at[0] <= i < mute_at[0] + mute_at[1]
        events += seg.feed(pcm[i * fs * 2:(i + 1) * fs * 2], voiced)
        assert seg.position == (i + 1) * fs
    return events + seg.end()


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
