"""The pure segmenter: table tests on voiced/unvoiced patterns and hypothesis invariants.

Expected events in the tables are worked out by hand from the rules in the
segmenter's docstring (pre-roll, N-of-M start, hang-over, tail, min, max), in
units of frames of the small test config below.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture_truth import assert_well_formed, segment
from voicebot.capture.segmenter import (
    Segmenter,
    SegmenterConfig,
    SpeechStarted,
    UtteranceEnded,
)
from voicebot.errors import ConfigError

# 10 ms frames; pre-roll 3 frames; start on 3 of 4; hang-over 5; tail 2; min 4; max 30.
SMALL = SegmenterConfig(endpoint="fixed", frame_ms=10, preroll_ms=30, start_voiced_frames=3,
                        start_window_frames=4, hangover_ms=50, tail_ms=20, min_utterance_ms=40,
                        max_utterance_ms=300)
F = SMALL.frame_samples  # 160 samples


def signal(n_samples: int) -> bytes:
    """A ramp of distinct samples, so any misplaced slice is visible."""
    return (np.arange(n_samples, dtype=np.int64) * 7919 % 65536 - 32768).astype("<i2").tobytes()


def run(pattern: str, config: SegmenterConfig = SMALL, *, flush: bool = True) -> tuple[list, bytes]:
    seg = Segmenter(config)
    fs = config.frame_samples
    pcm = signal(len(pattern) * fs)
    events: list = []
    for i, ch in enumerate(pattern):
        events += seg.feed(pcm[i * fs * 2:(i + 1) * fs * 2], ch == "1")
    if flush:
        events += seg.end()
    return events, pcm


def summary(events: list) -> list[tuple]:
    """Events in frame units, without pcm (checked separately)."""
    out = []
    for e in events:
        if isinstance(e, SpeechStarted):
            out.append(("start", e.start_sample / F))
        elif isinstance(e, UtteranceEnded):
            out.append(("ended", e.start_sample / F, e.end_sample / F, e.reason))
        else:
            out.append(("discarded", e.start_sample / F, e.end_sample / F, e.reason))
    return out


CASES = {
    "empty": ("", []),
    "silence": ("........", []),
    "sparse speech never starts": ("..1.1..1..1.1...", []),
    # voiced 4..9; trigger at 6; start 4-3=1; voiced end 10; 5 silent frames; end 10+2.
    "one utterance": ("....111111.......", [("start", 1), ("ended", 1, 12, "silence")]),
    # voiced span 4..7 is 3 frames < min 4.
    "too short": ("....111.....", [("start", 1), ("discarded", 1, 9, "too_short")]),
    "pre-roll clamped at 0": ("1111......", [("start", 0), ("ended", 0, 6, "silence")]),
    # a 4-frame gap is shorter than the 5-frame hang-over: one utterance
    "gap below hang-over": ("..1111....1111.......", [("start", 0), ("ended", 0, 16, "silence")]),
    # a 5-frame gap ends the first; the second's pre-roll stops at the first's end (10)
    "gap at hang-over splits": ("....1111.....1111......",
                                [("start", 1), ("ended", 1, 10, "silence"),
                                 ("start", 10), ("ended", 10, 19, "silence")]),
    # 3 of 4 with a hole: frames 3,5,6 fire at 6; start at the first voiced (3) - 3
    "n of m with holes": ("...1.11.1......", [("start", 0), ("ended", 0, 11, "silence")]),
    # gaps shorter than the window keep the burst: the pre-roll counts from frame 6
    "onset before a gap": ("......11...111......", [("start", 3), ("ended", 3, 16, "silence")]),
    # a gap of a whole window (4) ends the burst: the onset is frame 11
    "burst broken by a full window": ("......1....1111......",
                                      [("start", 8), ("ended", 8, 17, "silence")]),
    # flicker that never starts keeps the burst alive (trigger at 21 on 18,20,21);
    # the onset is held to 2 windows before the trigger frame's end: 22-8 = 14
    "look-back is bounded": ("1.1.1.1.1.1.1.1.1.1.111.....",
                             [("start", 11), ("ended", 11, 25, "silence")]),
    # 40 voiced frames: cut at 1+30; the rest starts exactly there, flushed at the end
    "max length then continue": ("...." + "1" * 40,
                                 [("start", 1), ("ended", 1, 31, "max_length"),
                                  ("start", 31), ("ended", 31, 44, "end_of_input")]),
    "end of input keeps what exists": (".11111", [("start", 0), ("ended", 0, 6, "end_of_input")]),
    "end of input too short": (".111", [("start", 0), ("discarded", 0, 4, "too_short")]),
    "end of input idle": ("..11", []),
    # tail is cut by the end of input: voiced end 8, +2 = 10 > 9 fed
    "tail clipped at input end": ("...11111.", [("start", 0), ("ended", 0, 9, "end_of_input")]),
}


@pytest.mark.parametrize("pattern,expected", CASES.values(), ids=CASES.keys())
def test_table(pattern: str, expected: list[tuple]) -> None:
    events, pcm = run(pattern)
    assert summary(events) == expected
    for e in events:
        if isinstance(e, UtteranceEnded):
            assert e.pcm == pcm[e.start_sample * 2:e.end_sample * 2]


def test_without_flush_nothing_pending_is_emitted() -> None:
    events, _ = run(".11111", flush=False)
    assert summary(events) == [("start", 0)]


def test_default_config_is_valid_and_in_frames_of_30ms() -> None:
    c = SegmenterConfig()
    assert c.frame_samples == 480 and c.frame_bytes == 960
    assert c.hangover_ms > 300 + c.frame_ms  # a 300 ms pause inside a sentence never splits it
    assert c.tail_ms < c.hangover_ms


@pytest.mark.parametrize("kw", [
    {"frame_ms": 25}, {"aggressiveness": 4}, {"start_voiced_frames": 0},
    {"start_voiced_frames": 11, "start_window_frames": 10}, {"tail_ms": 800},
    {"max_utterance_ms": 200}, {"preroll_ms": -1},
])
def test_bad_config_is_a_config_error(kw: dict) -> None:
    with pytest.raises(ConfigError):
        SegmenterConfig(**kw)


def test_wrong_frame_size_is_refused() -> None:
    with pytest.raises(ValueError):
        Segmenter(SMALL).feed(b"\0" * (SMALL.frame_bytes - 2), True)


def test_mute_discards_utterance_in_progress_and_preroll() -> None:
    seg = Segmenter(SMALL)
    pcm = signal(40 * F)
    frame = [pcm[i * F * 2:(i + 1) * F * 2] for i in range(40)]
    events = []
    for i in range(8):  # speech from frame 2, trigger at 4
        events += seg.feed(frame[i], i >= 2)
    seg.muted = True
    for i in range(8, 20):  # the assistant's voice: would be speech
        events += seg.feed(frame[i], True)
    seg.muted = False
    for i in range(20, 40):  # speech again right after unmuting
        events += seg.feed(frame[i], True)
    events += seg.end()
    assert summary(events) == [
        ("start", 0), ("discarded", 0, 8, "muted"),
        # pre-roll may not reach back into the muted frames 8..19
        ("start", 20), ("ended", 20, 40, "end_of_input"),
    ]
    assert events[-1].pcm == pcm[20 * F * 2:40 * F * 2]


def test_end_while_muted_discards() -> None:
    seg = Segmenter(SMALL)
    for _ in range(5):
        seg.feed(b"\0" * SMALL.frame_bytes, True)
    seg.muted = True
    assert summary(seg.end()) == [("discarded", 0, 5, "muted")]
    assert seg.end() == []


def test_feeding_continues_after_end_with_time_counting_on() -> None:
    seg = Segmenter(SMALL)
    pattern = ".1111" + "......" + "1111......"
    pcm = signal(len(pattern) * F)
    events = []
    for i, ch in enumerate(pattern):
        events += seg.feed(pcm[i * F * 2:(i + 1) * F * 2], ch == "1")
        if i == 4:
            events += seg.end()
    assert summary(events) == [("start", 0), ("ended", 0, 5, "end_of_input"),
                               ("start", 8), ("ended", 8, 17, "silence")]


# -- hypothesis invariants --------------------------------------------------------

configs = st.builds(
    SegmenterConfig,
    endpoint=st.just("fixed"),  # the adaptive policy's: test_capture_endpoint.py
    frame_ms=st.sampled_from([10, 20, 30]),
    preroll_ms=st.integers(0, 400),
    start_voiced_frames=st.integers(1, 4),
    start_window_frames=st.just(4),
    hangover_ms=st.integers(200, 800),
    tail_ms=st.integers(0, 200),
    min_utterance_ms=st.integers(0, 300),
    max_utterance_ms=st.integers(400, 3000),
)


@settings(max_examples=200, deadline=None)
@given(config=configs, flags=st.lists(st.booleans(), max_size=400),
       mute_at=st.one_of(st.none(), st.tuples(st.integers(0, 400), st.integers(0, 100))))
def test_invariants(config: SegmenterConfig, flags: list[bool],
                    mute_at: tuple[int, int] | None) -> None:
    fs = config.frame_samples
    pcm = signal(len(flags) * fs)
    events = segment(config, pcm, flags, mute_at)

    assert_well_formed(events, pcm, config)
