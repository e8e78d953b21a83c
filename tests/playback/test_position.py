"""PlaybackPositions: the ring the output callback writes and the loop reads."""

from __future__ import annotations

import pytest
from allocs import peak_growth

from voicebot.playback.position import PlaybackPositions

RATE = 1000.0  # one sample per millisecond


def blocks(pos: PlaybackPositions, gen: int, start: float, counts: list[int],
           before: int = 0, block: int = 10) -> None:
    """Blocks of ``block`` frames back to back from DAC time ``start``; ``counts`` real
    samples each (silence after them)."""
    for k, c in enumerate(counts):
        pos.record(gen, before, c, start + k * block / RATE)
        before += c


def test_nothing_heard_before_the_first_sample_or_for_another_reply() -> None:
    pos = PlaybackPositions()
    assert pos.reached(1, 100.0, RATE) == 0 and pos.first_sound(1) is None
    blocks(pos, 1, 10.0, [0, 0, 10, 10])  # waits two blocks, then plays from 10.020
    assert pos.reached(1, 9.0, RATE) == 0
    assert pos.reached(1, 10.019, RATE) == 0
    assert pos.first_sound(1) == pytest.approx(10.020)
    assert pos.reached(2, 10.035, RATE) == 0  # rows of reply 1 are not reply 2's


def test_interpolates_within_a_block_and_stops_at_its_real_samples() -> None:
    pos = PlaybackPositions()
    blocks(pos, 3, 5.0, [10, 10, 4, 0, 0, 10])  # an underrun after 24 samples
    assert pos.reached(3, 5.0, RATE) == 0
    assert pos.reached(3, 5.0055, RATE) == pytest.approx(5.5)
    assert pos.reached(3, 5.015, RATE) == pytest.approx(15)
    assert pos.reached(3, 5.029, RATE) == pytest.approx(24)   # 4 real, then silence
    assert pos.reached(3, 5.045, RATE) == pytest.approx(24)   # the gap
    assert pos.reached(3, 5.053, RATE) == pytest.approx(27)   # resumed at 5.050
    assert pos.reached(3, 99.0, RATE) == pytest.approx(34)    # all of it


def test_a_new_reply_starts_from_zero_and_old_rows_stop_the_search() -> None:
    pos = PlaybackPositions()
    blocks(pos, 1, 0.0, [10] * 5)
    blocks(pos, 2, 0.05, [0, 10, 10])
    assert pos.reached(2, 0.065, RATE) == pytest.approx(5)
    assert pos.reached(1, 0.045, RATE) == pytest.approx(45)
    assert pos.first_sound(2) == pytest.approx(0.06)


def test_wraps_and_forgets_the_oldest_rows() -> None:
    pos = PlaybackPositions(rows=32)
    blocks(pos, 1, 0.0, [10] * 100)  # 1 s; the ring keeps the last 32 blocks (minus slack)
    assert pos.reached(1, 0.995, RATE) == pytest.approx(995)
    assert pos.reached(1, 0.1, RATE) == 0  # too old: no longer in the ring
    assert pos.first_sound(1) is None
    with pytest.raises(ValueError):
        PlaybackPositions(rows=8)


def test_record_allocates_no_buffer() -> None:
    pos = PlaybackPositions()
    pos.record(1, 0, 480, 1.0)
    k = 0

    def record() -> None:
        nonlocal k
        k += 1
        pos.record(1, 480 * k, 480, 1.0 + k * 0.01)

    peak, current = peak_growth(record, 2000)
    assert peak < 1024 and current < 512  # a few transient floats
