"""Two engines as one wake-word detector (voicebot.kiosk.fusion): either fires, one refractory.

Pure: scores fed as (engine, chunk end position, score) in the order a detector feeds
them; the gated engine's catch-up makes its positions lag the other's.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.kiosk.fusion import EitherTrigger
from voicebot.kiosk.gate import ScoreTrigger

REFRACTORY = 200


def either(onset_window: int | None = None) -> EitherTrigger:
    """Engine 0 fires at 0.5 (lag 30), engine 1 at 0.8 (lag 10)."""
    return EitherTrigger([ScoreTrigger(0.5, REFRACTORY, 30, onset_window),
                          ScoreTrigger(0.8, REFRACTORY, 10, onset_window)], REFRACTORY)


@pytest.mark.parametrize("scores, expected", [
    # (engine, end_position, score) → fired end positions
    ([(0, 100, 0.6)], [70]),
    ([(1, 100, 0.7)], []),                                # under engine 1's threshold
    ([(1, 100, 0.9)], [90]),
    ([(0, 100, 0.6), (1, 250, 0.9)], [70]),               # the same word, heard second
    ([(1, 300, 0.9), (0, 200, 0.6)], [290]),              # heard first by the lagging engine's
    ([(0, 100, 0.6), (1, 300, 0.9)], [70, 290]),          # a refractory apart: two words
    ([(0, 100, 0.4), (1, 120, 0.85), (0, 180, 0.9)], [110]),
    ([(1, 500, 0.9), (0, 100, 0.6), (0, 400, 0.9)], [490, 70]),  # late, but far enough
])
def test_either_trigger(scores: list[tuple[int, int, float]], expected: list[int]) -> None:
    trigger = either()
    fired = [trigger.feed(e, pos, s) for e, pos, s in scores]
    assert [f for f in fired if f is not None] == expected


def test_onset_window_applies_to_each_engine() -> None:
    trigger = either(onset_window=300)
    assert trigger.feed(1, 900, 0.95, onset=500) is None   # 400 into the speech
    assert trigger.feed(0, 950, 0.95, onset=500) is None
    assert trigger.feed(1, 1000, 0.95, onset=800) == 990


def test_reset_forgets_detections() -> None:
    trigger = either()
    assert trigger.feed(0, 100, 0.9) == 70
    trigger.reset()
    assert trigger.feed(1, 150, 0.9) == 140


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        EitherTrigger([], 100)
    with pytest.raises(ValueError):
        EitherTrigger([ScoreTrigger(0.5, 0, 0)], -1)


# Two engines' chunk streams: growing positions each, interleaved in any order.
streams = st.lists(st.tuples(st.integers(1, 150), st.floats(0.0, 1.0)), max_size=40)


def interleave(a: list[tuple[int, float]], b: list[tuple[int, float]], order: list[bool]
               ) -> list[tuple[int, int, float]]:
    """Steps → positions per engine, merged in ``order`` (True: engine 0 next)."""
    def positions(steps: list[tuple[int, float]]) -> list[tuple[int, float]]:
        out, pos = [], 0
        for step, score in steps:
            pos += step
            out.append((pos, score))
        return out

    pa, pb = positions(a), positions(b)
    merged: list[tuple[int, int, float]] = []
    for first in order + [True] * len(pa) + [False] * len(pb):
        if first and pa:
            merged.append((0, *pa.pop(0)))
        elif not first and pb:
            merged.append((1, *pb.pop(0)))
    return merged


@settings(max_examples=200, deadline=None)
@given(streams, streams, st.lists(st.booleans(), max_size=80))
def test_fired_chunks_are_apart_and_cover_every_crossing(
        a: list[tuple[int, float]], b: list[tuple[int, float]], order: list[bool]) -> None:
    trigger = either()
    thresholds = (0.5, 0.8)
    fired, crossings = [], []
    for engine, pos, score in interleave(a, b, order):
        if trigger.feed(engine, pos, score) is not None:
            fired.append(pos)
        if score >= thresholds[engine]:
            crossings.append(pos)
    # No two detections within a refractory period of each other, whichever engine ...
    assert all(abs(p - q) >= REFRACTORY for i, p in enumerate(fired) for q in fired[:i])
    # ... and every score over its engine's threshold is a detection or near one.
    assert all(any(abs(c - f) < REFRACTORY for f in fired) for c in crossings)


@settings(max_examples=100, deadline=None)
@given(streams)
def test_one_engine_is_the_score_trigger(a: list[tuple[int, float]]) -> None:
    alone = ScoreTrigger(0.5, REFRACTORY, 30)
    trigger = EitherTrigger([ScoreTrigger(0.5, REFRACTORY, 30)], REFRACTORY)
    for _, pos, score in interleave(a, [], []):
        assert trigger.feed(0, pos, score) == alone.feed(pos, score)
