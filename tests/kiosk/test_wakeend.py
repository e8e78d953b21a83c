"""The wake word's end placed from the score's peak after the detection (pure).

Scores are fed as a detector feeds them: the crossing chunk's end and score to
``detected``, then each later chunk (80 ms apart) to ``feed``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.kiosk.wakeend import PeakPlacer

CHUNK = 1280
LAG = 8000


def placer(window: int = 4) -> PeakPlacer:
    return PeakPlacer(chunk_samples=CHUNK, window_chunks=window, peak_lag_samples=LAG)


def run(p: PeakPlacer, crossing: int, scores: list[float]) -> list[tuple[int, int]]:
    """(chunk index after the crossing, placement) for every placement that came out;
    scores[0] is the crossing's."""
    out = []
    placed = p.detected(crossing, scores[0])
    if placed is not None:
        out.append((0, placed))
    for k, score in enumerate(scores[1:], 1):
        placed = p.feed(crossing + k * CHUNK, score)
        if placed is not None:
            out.append((k, placed))
    return out


@pytest.mark.parametrize("scores, peak_chunk", [
    ([0.6, 0.8, 0.95, 0.7, 0.3, 0.99], 2),  # the 5th chunk is past the window
    ([0.9, 0.8, 0.7, 0.6, 0.5], 0),         # falling: the crossing is the peak
    ([0.6, 0.7, 0.7, 0.7, 0.7], 1),         # equal scores: the earliest
    ([0.6, 0.6, 0.6, 0.6, 0.9], 4),         # the window's last chunk counts
])
def test_placed_at_the_peak_once_the_window_is_scored(scores: list[float],
                                                      peak_chunk: int) -> None:
    crossing = 100 * CHUNK
    p = placer()
    assert run(p, crossing, scores) == [(4, crossing + peak_chunk * CHUNK - LAG)]
    assert not p.pending


def test_window_zero_places_at_the_crossing_at_once() -> None:
    assert run(placer(0), 20 * CHUNK, [0.7, 0.9]) == [(0, 20 * CHUNK - LAG)]


def test_a_gap_or_idle_places_with_what_was_seen() -> None:
    p = placer()
    p.detected(50 * CHUNK, 0.6)
    assert p.feed(51 * CHUNK, 0.8) is None
    # The next chunk is beyond the window (the gate closed and reopened later).
    assert p.feed(60 * CHUNK, 0.99) == 51 * CHUNK - LAG
    p.detected(100 * CHUNK, 0.6)
    assert p.feed(101 * CHUNK, 0.5) is None
    assert p.idle() == 100 * CHUNK - LAG
    assert p.idle() is None and p.feed(102 * CHUNK, 0.9) is None


def test_chunks_at_or_before_the_crossing_are_ignored() -> None:
    p = placer()
    p.detected(50 * CHUNK, 0.6)
    assert p.feed(50 * CHUNK, 0.99) is None  # the gate re-ran its pre-roll
    assert p.feed(45 * CHUNK, 0.99) is None
    assert p.idle() == 50 * CHUNK - LAG


def test_reset_drops_the_pending_detection_and_a_new_one_places_the_old() -> None:
    p = placer()
    p.detected(50 * CHUNK, 0.6)
    p.reset()
    assert not p.pending and p.idle() is None
    p.detected(50 * CHUNK, 0.6)
    assert p.feed(51 * CHUNK, 0.7) is None
    assert p.detected(52 * CHUNK, 0.9) == 51 * CHUNK - LAG
    assert p.pending


def test_placement_is_never_before_the_stream() -> None:
    assert run(placer(0), CHUNK, [0.9]) == [(0, 0)]


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=10), st.integers(0, 6),
       st.integers(10, 10_000))
def test_one_placement_at_the_first_best_score_of_the_window(
        scores: list[float], window: int, crossing_chunk: int) -> None:
    crossing = crossing_chunk * CHUNK
    p = placer(window)
    out = run(p, crossing, scores)
    if not out:  # the scores ran out before the window did
        assert len(scores) <= window
        out = [(len(scores) - 1, p.idle())]  # type: ignore[list-item]
    seen = scores[:window + 1]
    best = seen.index(max(seen))
    assert out == [(min(window, len(scores) - 1), crossing + best * CHUNK - LAG)]
