"""RunLog: each run of speech the wake-word model heard, summed up (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from voicebot.kiosk.wakerun import RunLog, WakeRun

CHUNK = 1280
BLOCK = 960


def test_a_run_from_its_first_chunk_to_the_gate_closing() -> None:
    log = RunLog(0.5, CHUNK)
    log.block(0, BLOCK)
    log.gate_closed()  # nothing ran: no run
    log.block(BLOCK, BLOCK)
    log.chunk(1280, None)  # warming up: no score counts
    log.block(2 * BLOCK, BLOCK)
    log.chunk(2560, 0.2)
    log.block(3 * BLOCK, BLOCK)
    log.chunk(3840, 0.7)
    assert log.take() == []  # still open
    log.block(4 * BLOCK, BLOCK)
    log.chunk(5120, 0.6)
    log.gate_closed()
    assert log.take() == [WakeRun(0, 5 * BLOCK, 0.7, 3840, 4, 0.5)]
    assert log.take() == []


def test_a_run_with_no_counted_score() -> None:
    log = RunLog(0.5, CHUNK)
    log.block(0, 2 * CHUNK)
    log.chunk(CHUNK, None)
    log.chunk(2 * CHUNK, None)
    log.gate_closed()
    assert log.take() == [WakeRun(0, 2 * CHUNK, -1.0, -1, 2, 0.5)]


def test_a_gap_ends_the_run_where_the_audio_stopped() -> None:
    log = RunLog(0.3, CHUNK)
    log.block(0, CHUNK)
    log.chunk(CHUNK, 0.1)
    log.block(10 * CHUNK, CHUNK)  # muted in between
    assert log.take() == [WakeRun(0, CHUNK, 0.1, CHUNK, 1, 0.3)]
    log.chunk(11 * CHUNK, 0.4)
    log.gate_closed()
    assert log.take() == [WakeRun(10 * CHUNK, 11 * CHUNK, 0.4, 11 * CHUNK, 1, 0.3)]


def test_only_the_last_runs_are_kept_and_reset_forgets() -> None:
    log = RunLog(0.5, CHUNK, keep=2)
    for k in range(5):
        log.block(k * CHUNK, CHUNK)
        log.chunk((k + 1) * CHUNK, k / 10)
        log.gate_closed()
    assert [r.best_score for r in log.take()] == [0.3, 0.4]
    log.block(5 * CHUNK, CHUNK)
    log.chunk(6 * CHUNK, 0.9)
    log.reset()
    log.gate_closed()
    assert log.take() == []


@given(st.lists(st.tuples(st.booleans(), st.one_of(st.none(), st.floats(0, 1)),
                          st.booleans()), max_size=60))
def test_every_chunk_is_in_one_run_and_each_best_is_its_maximum(
        steps: list[tuple[bool, float | None, bool]]) -> None:
    """Blocks of one chunk each: (gap before it, its score, gate closed after it)."""
    log = RunLog(0.5, CHUNK)
    position, runs, scores_by_end = 0, [], {}
    for gap, score, closed in steps:
        position += CHUNK if gap else 0
        log.block(position, CHUNK)
        position += CHUNK
        log.chunk(position, score)
        scores_by_end[position] = score
        if closed:
            log.gate_closed()
        runs += log.take()
    log.gate_closed()
    runs += log.take()
    assert sum(r.chunks for r in runs) == len(steps)
    for run in runs:
        inside = [s for end, s in scores_by_end.items()
                  if run.start_position < end <= run.end_position and s is not None]
        assert run.best_score == (max(inside) if inside else -1.0)
    assert all(a.end_position <= b.start_position for a, b in zip(runs, runs[1:]))
