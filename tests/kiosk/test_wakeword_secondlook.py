"""The second look's timing (voicebot.kiosk.secondlook): which looks, and when their audio is in.

Pure: fed score sequences (chunk end positions, scores) and captured positions.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.kiosk.secondlook import LookRequest, SecondLook, SecondLookConfig

CHUNK = 100  # small sizes keep the tables readable
CFG = SecondLookConfig(maybe=0.1, primary_threshold=0.5, delay_samples=150,
                       window_samples=1000, refractory_samples=500, chunk_samples=CHUNK)


def triggers(scores: list[tuple[int, float]], config: SecondLookConfig = CFG) -> list[int]:
    """Feed (end position, score) in order; every look asked for, by trigger position."""
    look = SecondLook(config)
    for end, score in scores:
        look.feed(end, score)
    return [r.trigger_position for r in look.due(10**9)]


@pytest.mark.parametrize("scores, expected", [
    ([], []),
    ([(100, 0.05), (200, 0.09)], []),                        # never reaches maybe
    ([(100, 0.05), (200, 0.1)], [200]),                      # reaches it exactly
    ([(100, 0.2), (200, 0.3), (300, 0.2)], [100]),           # one crossing, one look
    ([(100, 0.2), (200, 0.05), (300, 0.2)], [100]),          # again within the refractory
    ([(100, 0.2), (200, 0.05), (600, 0.2)], [100, 600]),     # again after it (a gap too)
    ([(100, 0.2), (200, 0.05), (700, 0.05), (800, 0.2)], [100, 800]),
    ([(100, 0.2), (600, 0.3)], [100, 600]),                  # a gap: as if under maybe
    ([(100, 0.2), (200, 0.2), (300, 0.2), (700, 0.2)], [100, 700]),
    ([(100, 0.6)], []),                                      # the model fired by itself
    ([(100, 0.2), (200, 0.6)], []),                          # ... before the look was due
])
def test_looks_asked_for(scores: list[tuple[int, float]], expected: list[int]) -> None:
    assert triggers(scores) == expected


def test_a_look_is_due_once_its_audio_is_in() -> None:
    look = SecondLook(CFG)
    look.feed(1000, 0.2, onset=400)
    # The look hears [1150 - 1000, 1150): the delay after the chunk, the window before.
    expected = LookRequest(trigger_position=1000, start=150, end=1150, onset=400)
    assert look.waiting == 1
    assert look.due(1149) == []
    assert look.due(1150) == [expected]
    assert look.due(5000) == []  # returned once
    assert look.waiting == 0


def test_looks_come_out_oldest_first() -> None:
    look = SecondLook(CFG)
    look.feed(1000, 0.2)
    look.feed(1100, 0.0)
    look.feed(1600, 0.2)
    assert [r.trigger_position for r in look.due(1751)] == [1000, 1600]


def test_the_models_own_detection_drops_the_waiting_look() -> None:
    look = SecondLook(CFG)
    look.feed(1000, 0.2)
    look.feed(1100, 0.7)
    assert look.due(10**6) == []


def test_reset_forgets() -> None:
    look = SecondLook(CFG)
    look.feed(1000, 0.2)
    look.reset()
    assert look.due(10**6) == []
    look.feed(1100, 0.2)  # not within the refractory of the forgotten one, not "still over"
    assert [r.trigger_position for r in look.due(10**6)] == [1100]


@pytest.mark.parametrize("options", [
    {"maybe": 0.0}, {"maybe": 0.6}, {"delay_samples": -1}, {"window_samples": 0},
    {"refractory_samples": -1}, {"chunk_samples": 0},
])
def test_rejects_bad_settings(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SecondLookConfig(**options)  # type: ignore[arg-type]


# Scores under the model's own threshold (its detections drop waiting looks, which
# makes the looks depend on when the captured position is polled: tabled above).
scores = st.lists(st.tuples(st.integers(1, 8), st.floats(0.0, 0.49)), max_size=60).map(
    lambda steps: [(sum(s for s, _ in steps[:i + 1]) * CHUNK, score)
                   for i, (_, score) in enumerate(steps)])


@given(scores, st.lists(st.integers(0, 6000), max_size=20))
def test_looks_are_the_crossings_apart_and_come_out_once_when_their_audio_is_in(
        seq: list[tuple[int, float]], polls: list[int]) -> None:
    """However the captured position is polled: the looks are the maybe-crossings (a gap
    counts as under), a refractory period apart, each out exactly once, when its audio
    is in."""
    look = SecondLook(CFG)
    got: list[LookRequest] = []
    polls = sorted(polls)
    for end, score in seq:
        look.feed(end, score)
        while polls and polls[0] <= end:
            captured = polls.pop(0)
            for r in look.due(captured):
                assert r.end <= captured
                got.append(r)
    got += look.due(10**9)
    expected: list[int] = []
    prev_end, prev_score = None, 0.0
    for end, score in seq:
        under = prev_end is None or end - prev_end > CHUNK or prev_score < CFG.maybe
        prev_end, prev_score = end, score
        if score >= CFG.maybe and under and (
                not expected or end - expected[-1] >= CFG.refractory_samples):
            expected.append(end)
    assert [r.trigger_position for r in got] == expected
    for r in got:
        assert (r.start, r.end) == (r.trigger_position + CFG.delay_samples - CFG.window_samples,
                                    r.trigger_position + CFG.delay_samples)
