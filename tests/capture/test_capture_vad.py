"""Framing, conversion and the detector (framer + webrtcvad + segmenter) on real speech.

Speech comes from espeak-ng (tests/speech.py); the bounds are in capture_truth.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_truth import CFG, RATE, check_bounds, detect, ended, ms
from speech import Spoken, compose
from voicebot.audio import float_to_pcm16
from voicebot.capture.segmenter import SegmenterConfig, SpeechStarted, UtteranceEnded
from voicebot.capture.vad import CaptureConverter, UtteranceDetector, VadFramer

# -- VadFramer ---------------------------------------------------------------------

def test_framer_whole_bytewise_and_every_split() -> None:
    data = bytes(range(256)) * 4 + b"\x07"  # 1025 bytes: three 10 ms frames and a rest
    framer = VadFramer(frame_ms=10)
    fb = framer.frame_bytes
    expected = [data[i * fb:(i + 1) * fb] for i in range(len(data) // fb)]
    assert VadFramer(frame_ms=10).push(data) == expected
    bytewise = VadFramer(frame_ms=10)
    assert [f for i in range(len(data)) for f in bytewise.push(data[i:i + 1])] == expected
    assert bytewise.pending_bytes == len(data) % fb
    for cut in range(len(data) + 1):
        fr = VadFramer(frame_ms=10)
        assert fr.push(data[:cut]) + fr.push(data[cut:]) == expected


# -- CaptureConverter --------------------------------------------------------------

def _convert(x: np.ndarray, rate: int, block_sizes: list[int]) -> np.ndarray:
    conv = CaptureConverter(rate, x.shape[1])
    out, i, k = [], 0, 0
    while i < len(x):
        n = block_sizes[k % len(block_sizes)]
        out.append(conv.feed(x[i:i + n]))
        i, k = i + n, k + 1
    out.append(conv.flush())
    return np.frombuffer(b"".join(out), dtype="<i2").astype(np.float64) / 32768.0


def test_converter_matches_one_shot_resampling_at_any_block_size() -> None:
    rate = 48_000
    t = np.arange(rate) / rate
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    right = 0.3 * np.sin(2 * np.pi * 1250 * t + 1.0)
    x = np.stack([left, right], axis=1).astype(np.float32)
    # ground truth: the mono mix resampled in one go, then quantised like the converter
    truth = soxr.resample(x.mean(axis=1), rate, RATE, quality="HQ")
    for blocks in ([960], [1], [441, 7, 1000], [len(x)]):
        y = _convert(x, rate, blocks)
        assert len(y) == len(truth) == RATE
        # streaming must not click at block edges: within a couple of PCM16 steps
        assert np.max(np.abs(y - truth)) <= 2 / 32768, blocks


def test_converter_passes_16k_mono_through_exactly() -> None:
    x = (np.random.default_rng(3).uniform(-1, 1, (1000, 1))).astype(np.float32)
    assert _convert(x, RATE, [333]).tolist() == (
        np.frombuffer(float_to_pcm16(x[:, 0]), "<i2") / 32768.0).tolist()


# -- UtteranceDetector: chunking never matters ------------------------------------

def _marked_frames(flags: list[bool], cfg: SegmenterConfig) -> bytes:
    """Frames whose first sample says whether they are speech (for a fake classifier)."""
    n = cfg.frame_samples
    x = np.zeros(len(flags) * n, dtype="<i2")
    x[::n] = np.array(flags, dtype=np.int16)
    x[1::2] += np.arange(len(x[1::2]), dtype=np.int64).astype(np.int16)  # distinct content
    return x.tobytes()


def _classify(frame: bytes) -> bool:
    return frame[0] == 1 and frame[1] == 0


def _events(pcm: bytes, cuts: list[int], cfg: SegmenterConfig, **kw: object) -> list:
    det = UtteranceDetector(cfg, **kw)  # type: ignore[arg-type]
    events, prev = [], 0
    for cut in [*cuts, len(pcm)]:
        events += det.feed(pcm[prev:cut])
        prev = cut
    return events + det.end()


SMALL = SegmenterConfig(endpoint="fixed", frame_ms=10, preroll_ms=30, start_voiced_frames=3,
                        start_window_frames=4, hangover_ms=50, tail_ms=20, min_utterance_ms=40,
                        max_utterance_ms=300)


def test_detector_every_single_split_gives_the_same_events() -> None:
    pcm = _marked_frames([c == "1" for c in "..1111.....11111111..."], SMALL)
    whole = _events(pcm, [], SMALL, classify=_classify)
    assert [type(e) for e in whole] == [SpeechStarted, UtteranceEnded] * 2
    for cut in range(1, len(pcm)):
        assert _events(pcm, [cut], SMALL, classify=_classify) == whole


@settings(max_examples=60, deadline=None)
@given(flags=st.lists(st.booleans(), max_size=200), data=st.data())
def test_detector_any_chunking_gives_the_same_events(flags: list[bool], data: st.DataObject) -> None:
    pcm = _marked_frames(flags, SMALL)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(pcm)), max_size=30)))
    assert _events(pcm, cuts, SMALL, classify=_classify) == _events(pcm, [], SMALL,
                                                                     classify=_classify)


@settings(max_examples=60, deadline=None)
@given(flags=st.lists(st.booleans(), max_size=120), data=st.data())
def test_detector_classifies_the_vad_stream_and_records_the_other(
        flags: list[bool], data: st.DataObject) -> None:
    """``feed(pcm, vad_pcm16)``: the verdicts are the VAD stream's, the utterances'
    audio the first stream's, at any chunking, the VAD stream given from any chunk on
    (before it, the first stream is classified)."""
    vad = _marked_frames(flags, SMALL)
    pcm = bytes(b ^ 0x40 for b in vad)  # the same span, never speech to _classify
    cuts = sorted(data.draw(st.lists(st.integers(0, len(pcm)), max_size=20)))
    first = data.draw(st.integers(0, len(cuts)))  # chunks fed before the VAD stream
    det = UtteranceDetector(SMALL, classify=_classify)
    events, prev = [], 0
    for k, cut in enumerate([*cuts, len(pcm)]):
        events += det.feed(pcm[prev:cut], vad[prev:cut] if k >= first else None)
        prev = cut
    events += det.end()
    switch = ([0, *cuts])[first]
    # The same verdicts as one stream that is the first one up to the switch.
    expected = _events(pcm[:switch] + vad[switch:], [], SMALL, classify=_classify)
    assert [type(e) for e in events] == [type(e) for e in expected]
    for got, want in zip(events, expected):
        if isinstance(want, UtteranceEnded):
            assert isinstance(got, UtteranceEnded)
            assert (got.start_sample, got.end_sample) == (want.start_sample, want.end_sample)
            assert got.pcm == pcm[2 * got.start_sample:2 * got.end_sample]


def test_webrtcvad_detector_bytewise_equals_whole() -> None:
    x, _ = compose([0.3, "what time is it", 0.8])
    pcm = float_to_pcm16(x)
    whole = _events(pcm, [], CFG)
    assert len(whole) == 2
    assert _events(pcm, list(range(1, len(pcm))), CFG) == whole


# -- UtteranceDetector on espeak speech against ground truth ------------------------

@pytest.mark.parametrize("lead_s", [0.0, 0.1, 0.5, 1.23])
@pytest.mark.parametrize("text", ["what time is it", "yes", "turn on the kitchen lights please"])
def test_onset_and_end_against_ground_truth(text: str, lead_s: float) -> None:
    x, truth = compose([lead_s, text, 1.0])
    found = ended(detect(x))
    assert len(found) == 1
    u, at = found[0]
    assert u.reason == "silence"
    check_bounds(u, truth[0], at)


def test_a_300ms_pause_inside_a_sentence_does_not_split_it() -> None:
    x, truth = compose([0.5, "what time is it", 0.3, "is it late already", 1.0])
    found = ended(detect(x))
    assert len(found) == 1
    whole = Spoken("both", truth[0].start_s, truth[1].end_s)
    check_bounds(found[0][0], whole, found[0][1])


@pytest.mark.parametrize("noise_dbfs", [None, -40.0])
def test_two_sentences_two_seconds_apart_are_two_utterances(noise_dbfs: float | None) -> None:
    x, truth = compose([0.4, "what time is it", 2.0, "what can you do", 1.0],
                       noise_dbfs=noise_dbfs, seed=7)
    found = ended(detect(x))
    assert len(found) == 2
    for (u, at), spoken in zip(found, truth):
        check_bounds(u, spoken, at)
        assert u.pcm == float_to_pcm16(x)[u.start_sample * 2:u.end_sample * 2]


def _beeps(freq: float, beep_s: float = 0.1, every_s: float = 0.5, total_s: float = 4.0) -> np.ndarray:
    x = np.zeros(int(total_s * RATE), np.float32)
    t = np.arange(int(beep_s * RATE)) / RATE
    for start in np.arange(0.2, total_s - beep_s, every_s):
        i = int(start * RATE)
        x[i:i + len(t)] = 0.3 * np.sin(2 * np.pi * freq * t)
    return x


def _clicks(total_s: float = 4.0) -> np.ndarray:
    x = np.zeros(int(total_s * RATE), np.float32)
    rng = np.random.default_rng(5)
    for start in np.arange(0.1, total_s - 0.01, 0.25):
        i = int(start * RATE)
        x[i:i + 80] = rng.normal(0, 0.5, 80)  # 5 ms bursts: knocks, keyboard
    return x


NOISES = {
    "white -40 dBFS": lambda: np.random.default_rng(1).normal(0, 0.01, 5 * RATE).astype(np.float32),
    "white -50 dBFS": lambda: np.random.default_rng(2).normal(0, 10 ** -2.5, 5 * RATE).astype(np.float32),
    "beeps 440 Hz": lambda: _beeps(440),
    "beeps 1 kHz": lambda: _beeps(1000),
    "beeps 2 kHz": lambda: _beeps(2000),
    "clicks": _clicks,
}


@pytest.mark.parametrize("make", NOISES.values(), ids=NOISES.keys())
def test_noise_tones_and_clicks_emit_nothing(make) -> None:  # type: ignore[no-untyped-def]
    assert detect(make()) == []


def test_long_speech_is_cut_at_max_length_and_continues_seamlessly() -> None:
    cfg = SegmenterConfig(max_utterance_ms=700)
    x, truth = compose([0.5, "turn on the kitchen lights please", 1.0])
    events = [e for e, _ in detect(x, cfg) if not isinstance(e, SpeechStarted)]
    assert isinstance(events[0], UtteranceEnded) and events[0].reason == "max_length"
    assert len(events) >= 2
    for prev, nxt in zip(events, events[1:]):
        assert prev.reason == "max_length"
        assert nxt.start_sample == prev.end_sample  # nothing lost or repeated at a cut
    for e in events:
        if isinstance(e, UtteranceEnded):
            assert e.end_sample - e.start_sample <= 700 * RATE // 1000
    assert ms(events[0].start_sample) <= truth[0].start_s * 1000
    # after the last cut at most a fragment too short to start or keep may be left
    lost_ms = max(cfg.start_voiced_frames * cfg.frame_ms, cfg.min_utterance_ms)
    assert ms(events[-1].end_sample) >= truth[0].end_s * 1000 - lost_ms


def test_mute_while_speaking_drops_it_and_unmute_hears_the_next() -> None:
    x, truth = compose([0.4, "what time is it", 1.5, "what can you do", 1.0])
    pcm = float_to_pcm16(x)
    det = UtteranceDetector()
    split = int((truth[0].end_s + 0.5) * RATE) * 2
    det.muted = True
    events = det.feed(pcm[:split])
    det.muted = False
    events += det.feed(pcm[split:]) + det.end()
    found = [e for e in events if isinstance(e, UtteranceEnded)]
    assert len(found) == 1
    check_bounds(found[0], truth[1], None)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize("shape", ["flat", "column"])
def test_int16_blocks_convert_exactly_as_their_float_values(rate: int, shape: str) -> None:
    # A client's PCM16 passed as int16 gives the bytes the same samples give as float.
    rng = np.random.default_rng(rate)
    pcm = rng.integers(-32768, 32767, size=rate // 10, dtype=np.int16)
    as_int = pcm if shape == "flat" else pcm.reshape(-1, 1)
    as_float = pcm.astype(np.float32) / 32768.0
    as_float = as_float if shape == "flat" else as_float.reshape(-1, 1)
    a, b = CaptureConverter(rate, 1), CaptureConverter(rate, 1)
    got = b"".join(a.feed(as_int[i:i + 320]) for i in range(0, len(pcm), 320)) + a.flush()
    want = b"".join(b.feed(as_float[i:i + 320]) for i in range(0, len(pcm), 320)) + b.flush()
    assert got == want
    if rate == 16000:
        assert got == pcm.astype("<i2").tobytes()
