"""The segmenter's pause reports (``pause_ms``): SpeechPaused / SpeechResumed.

A table worked out by hand from the rules (frames of the small config of
test_capture_segmenter.py), and hypothesis properties: reporting pauses changes
nothing else, every pause is resumed or ends its utterance, and a pause's audio is
what the utterance would carry if it ended there.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from test_capture_segmenter import SMALL, configs, run, signal
from voicebot.capture.segmenter import (
    Segmenter,
    SegmenterConfig,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    UtteranceDiscarded,
    UtteranceEnded,
)

F = SMALL.frame_samples
PAUSING = replace(SMALL, pause_ms=30)  # 3 frames; hang-over 5, tail 2


def frames(events: list) -> list[tuple]:
    out: list[tuple] = []
    for e in events:
        if isinstance(e, SpeechStarted):
            out.append(("start", e.start_sample // F))
        elif isinstance(e, SpeechPaused):
            out.append(("paused", e.start_sample // F, e.end_sample // F))
        elif isinstance(e, SpeechResumed):
            out.append(("resumed", e.start_sample // F, e.resumed_sample // F))
        elif isinstance(e, UtteranceEnded):
            out.append(("ended", e.start_sample // F, e.end_sample // F, e.reason))
        else:
            out.append(("discarded", e.start_sample // F, e.end_sample // F, e.reason))
    return out


def test_a_pause_that_resumes_and_one_that_ends_the_utterance() -> None:
    # Speech at frames 4-8 (start fires at 6: onset 4, pre-roll 3 → start 1), silence
    # 9-11 (3 frames: a pause, reported after frame 11; its audio ends at the tail,
    # 9 + 2), speech 12-13, then silence: a pause after frame 16 (14 + 2), the end
    # after frame 18 (hang-over 5) at the same sample.
    events, pcm = run("0000" + "11111" + "000" + "11" + "00000", PAUSING, flush=False)
    assert frames(events) == [("start", 1), ("paused", 1, 11), ("resumed", 1, 12),
                              ("paused", 1, 16), ("ended", 1, 16, "silence")]
    first, second = events[1], events[3]
    assert first.pcm == pcm[F * 2:11 * F * 2]
    assert second.pcm == events[4].pcm  # pause_ms >= tail_ms: exactly the utterance's audio


def test_no_reports_when_off_or_before_the_utterance_is_long_enough() -> None:
    assert frames(run("0000" + "11111" + "000" + "11" + "00000", SMALL)[0]) == [
        ("start", 1), ("ended", 1, 16, "silence")]
    # Speech of 3 frames (shorter than min_utterance_ms, 4): no pause, then discarded.
    assert frames(run("0000111" + "00000", PAUSING)[0]) == [
        ("start", 1), ("discarded", 1, 9, "too_short")]


@settings(max_examples=200, deadline=None)
@given(config=configs, flags=st.lists(st.booleans(), max_size=400),
       pause_ms=st.integers(10, 400))
def test_pause_reports_change_nothing_else_and_come_in_order(config: SegmenterConfig, flags: list[bool],
                                                            pause_ms: int) -> None:
    pausing = replace(config, pause_ms=pause_ms)
    fs = config.frame_samples
    pcm = signal(len(flags) * fs)
    plain, with_pauses = [], []
    for cfg, out in ((config, plain), (pausing, with_pauses)):
        seg = Segmenter(cfg)
        for i, flag in enumerate(flags):
            out += seg.feed(pcm[i * fs * 2:(i + 1) * fs * 2], flag)
        out += seg.end()
    others = [e for e in with_pauses if not isinstance(e, (SpeechPaused, SpeechResumed))]
    assert others == plain
    paused: SpeechPaused | None = None
    open_start: int | None = None
    for e in with_pauses:
        if isinstance(e, SpeechStarted):
            open_start = e.start_sample
        elif isinstance(e, SpeechPaused):
            assert paused is None and e.start_sample == open_start
            assert e.pcm == pcm[e.start_sample * 2:e.end_sample * 2]
            paused = e
        elif isinstance(e, SpeechResumed):
            assert paused is not None and e.start_sample == open_start
            assert e.resumed_sample >= paused.end_sample
            paused = None
        else:
            if paused is not None and isinstance(e, UtteranceEnded):
                # Ended in the pause: the pause's audio is the start of the utterance's,
                # all of it once the pause is as long as the tail.
                assert e.pcm.startswith(paused.pcm)
                if pause_ms >= config.tail_ms and e.reason == "silence":
                    assert e.pcm == paused.pcm
            assert isinstance(e, (UtteranceEnded, UtteranceDiscarded))
            paused, open_start = None, None
