"""The wake-word gate (voicebot.kiosk.gate): which chunks the model runs on, and the trigger.

Pure: fed whole streams as blocks with VAD flags, checked against what the stream
holds at each position (every sample's value is its own position, mod 2**15).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.kiosk.gate import Chunk, GateConfig, ScoreTrigger, SpeechGate

CHUNK = 100  # small sizes keep the tables readable
CFG = GateConfig(chunk_samples=CHUNK, preroll_samples=400, hangover_samples=300,
                 warmup_samples=300, catchup_chunks=2)


def stream(n: int, start: int = 0) -> np.ndarray:
    return (np.arange(start, start + n) % 32768).astype(np.int16)


def run(gate: SpeechGate, blocks: list[tuple[int, bool]], start: int = 0
        ) -> list[list[Chunk]]:
    """Feed blocks of (samples, voiced) from capture position ``start``; chunks per feed."""
    out, pos = [], start
    for n, voiced in blocks:
        out.append(gate.feed(stream(n, pos), pos, voiced))
        pos += n
    return out


def flat(per_feed: list[list[Chunk]]) -> list[Chunk]:
    return [c for feed in per_feed for c in feed]


def check_contents(chunks: list[Chunk]) -> None:
    for c in chunks:
        assert len(c.samples) == CHUNK
        np.testing.assert_array_equal(c.samples, stream(CHUNK, c.end_position - CHUNK))
        assert c.end_position % CHUNK == 0  # aligned to the capture position


def test_silence_runs_nothing() -> None:
    gate = SpeechGate(CFG)
    assert flat(run(gate, [(160, False)] * 50)) == []
    assert not gate.is_open


@pytest.mark.parametrize("onset, first_start", [
    (1000, 600),   # pre-roll: 400 samples before the voiced block, aligned down
    (1050, 600),   # onset inside a chunk: floor(1050 - 400) = 600
    (250, 0),      # little audio yet: from the stream's first whole chunk
])
def test_opening_hands_over_the_preroll(onset: int, first_start: int) -> None:
    gate = SpeechGate(CFG)
    per_feed = run(gate, [(onset, False), (50, True)] + [(50, False)] * 40)
    chunks = flat(per_feed)
    check_contents(chunks)
    assert chunks[0].end_position - CHUNK == first_start
    ends = [c.end_position for c in chunks]
    assert ends == list(range(ends[0], ends[-1] + 1, CHUNK))  # contiguous, none twice


def test_catch_up_is_spread_over_feeds() -> None:
    gate = SpeechGate(CFG)
    per_feed = run(gate, [(1000, False)] + [(50, True)] * 20)
    sizes = [len(f) for f in per_feed[1:]]
    # due = ceil(50 / 100) + 2 catch-up chunks per feed, until the backlog is gone
    assert max(sizes) == 3
    assert gate.backlog_samples < CHUNK


def test_hangover_closes_after_handing_over_the_tail() -> None:
    gate = SpeechGate(CFG)
    per_feed = run(gate, [(1000, False), (100, True)] + [(100, False)] * 10)
    chunks = flat(per_feed)
    # voiced until 1100, closed once 300 quiet samples are in (at 1400): all up to 1400 run
    assert chunks[-1].end_position == 1400
    assert not gate.is_open
    check_contents(chunks)


def test_reopening_soon_carries_on_without_repeating() -> None:
    gate = SpeechGate(CFG)
    first = flat(run(gate, [(1000, False), (100, True)] + [(100, False)] * 4))
    second = flat(run(gate, [(100, False), (100, True)] + [(100, False)] * 6, start=1500))
    assert first[-1].end_position == 1400
    # the model stopped at 1400; the new pre-roll (1600 - 400 = 1200) overlaps it
    assert second[0].end_position == 1500
    assert all(c.scored for c in second)  # its input never broke


def test_reopening_after_a_long_silence_warms_up_again() -> None:
    gate = SpeechGate(CFG)
    run(gate, [(1000, False), (100, True)] + [(100, False)] * 4)
    chunks = flat(run(gate, [(3000, False), (100, True)] + [(100, False)] * 6, start=1500))
    assert chunks[0].end_position == 4500 - 400 + CHUNK
    # 300 samples of warm-up: the first two chunks (ending 100 and 200 in) do not count
    assert [c.scored for c in chunks[:4]] == [False, False, True, True]
    check_contents(chunks)


def test_a_gap_in_positions_restarts_the_warm_up() -> None:
    gate = SpeechGate(GateConfig(chunk_samples=CHUNK, warmup_samples=300, always_open=True))
    gate.feed(stream(1000), 0, False)
    chunks = gate.feed(stream(500, 5000), 5000, False)
    assert [c.end_position for c in chunks] == [5100, 5200, 5300, 5400, 5500]
    assert [c.scored for c in chunks] == [False, False, True, True, True]


def test_reset_forgets_the_preroll() -> None:
    gate = SpeechGate(CFG)
    run(gate, [(1000, False)])
    gate.reset()
    chunks = gate.feed(stream(100, 1000), 1000, True)
    assert chunks == [] or chunks[0].end_position - CHUNK >= 1000


def test_large_blocks_grow_the_ring() -> None:
    gate = SpeechGate(CFG)
    chunks = flat(run(gate, [(50_000, False), (30_000, True), (30_000, False)]))
    check_contents(chunks)
    assert chunks[0].end_position - CHUNK == 50_000 - 400
    assert chunks[-1].end_position == 110_000


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=30))
def test_always_open_hands_over_the_same_chunks_however_split(sizes: list[int]) -> None:
    cfg = GateConfig(chunk_samples=CHUNK, preroll_samples=400, warmup_samples=300,
                     catchup_chunks=0, always_open=True)
    total = sum(sizes)
    whole = SpeechGate(cfg).feed(stream(total), 0, False)
    split = flat(run(SpeechGate(cfg), [(n, False) for n in sizes]))
    assert [c.end_position for c in split] == [c.end_position for c in whole]
    assert [c.end_position for c in whole] == list(range(CHUNK, total // CHUNK * CHUNK + 1, CHUNK))
    assert [c.scored for c in split] == [c.end_position >= 300 for c in split]
    check_contents(split)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400), st.booleans()), min_size=1, max_size=40))
def test_vad_gate_never_repeats_or_misaligns(blocks: list[tuple[int, bool]]) -> None:
    gate = SpeechGate(CFG)
    chunks = flat(run(gate, blocks))
    check_contents(chunks)
    ends = [c.end_position for c in chunks]
    assert ends == sorted(set(ends))
    # every voiced sample that is in a whole chunk before the end was run or is backlog
    pos, voiced_chunks = 0, set()
    for n, voiced in blocks:
        if voiced:
            voiced_chunks |= {p // CHUNK for p in range(pos, pos + n)}
        pos += n
    done = {e // CHUNK - 1 for e in ends}
    missing = {k for k in voiced_chunks if (k + 1) * CHUNK <= pos} - done
    assert all(k * CHUNK >= pos - gate.backlog_samples - CHUNK for k in missing)


@pytest.mark.parametrize("scores, expected", [
    # (end_position, score) → fired end positions (lag 30)
    ([(100, 0.2), (200, 0.6), (300, 0.9)], [170]),
    ([(100, 0.5)], [70]),                    # the threshold itself fires
    ([(100, 0.7), (250, 0.7), (300, 0.7)], [70, 270]),  # refractory 200: 250 is inside
    ([(10, 0.9)], [0]),                      # never before the stream
])
def test_score_trigger(scores: list[tuple[int, float]], expected: list[int]) -> None:
    trigger = ScoreTrigger(threshold=0.5, refractory_samples=200, end_lag_samples=30)
    fired = [trigger.feed(pos, s) for pos, s in scores]
    assert [f for f in fired if f is not None] == expected


@pytest.mark.parametrize("blocks, onset", [
    ([(100, False)] * 3, None),                             # no speech yet
    ([(100, False), (100, True), (100, True)], 100),        # the first voiced block
    ([(100, True), (300, False), (100, True)], 0),          # a 300-sample pause: same run
    ([(100, True), (400, False), (100, True)], 500),        # 400 samples: a new run
    ([(100, True), (200, False), (200, False), (100, True)], 500),
])
def test_speech_onset(blocks: list[tuple[int, bool]], onset: int | None) -> None:
    gate = SpeechGate(GateConfig(chunk_samples=CHUNK, preroll_samples=400,
                                 onset_pause_samples=400))
    run(gate, blocks)
    assert gate.speech_onset == onset


@pytest.mark.parametrize("end, onset, fired", [
    (1000, 500, True),     # 500 after the onset: inside a 600 window
    (1100, 500, True),     # the window's edge
    (1200, 500, False),    # too long into the speech: a word inside a sentence
    (1200, None, True),    # no onset known: no rule
    (1200, 1300, True),    # a chunk run late, from before the newest onset
])
def test_score_trigger_onset_window(end: int, onset: int | None, fired: bool) -> None:
    trigger = ScoreTrigger(threshold=0.5, refractory_samples=0, end_lag_samples=0,
                           onset_window_samples=600)
    assert (trigger.feed(end, 0.9, onset) is not None) == fired


LIMITED = GateConfig(chunk_samples=CHUNK, preroll_samples=400, hangover_samples=300,
                     warmup_samples=300, catchup_chunks=2, onset_pause_samples=200,
                     run_limit_samples=500)


def test_run_limit_closes_a_long_run_and_reopens_at_the_next() -> None:
    gate = SpeechGate(LIMITED)
    # silence, then speech from 1000 for 1000 samples, a 300 pause, speech again
    per_feed = run(gate, [(1000, False)] + [(50, True)] * 20 + [(50, False)] * 6
                   + [(50, True)] * 4)
    chunks = flat(per_feed)
    check_contents(chunks)
    ends = [c.end_position for c in chunks]
    # the first run: the pre-roll from 600, up to its onset (1000) + 500
    assert [e for e in ends if e <= 1500] == list(range(700, 1501, 100))
    # the rest of the run: nothing; the second run begins at 2300: its pre-roll from 1900
    assert [e for e in ends if e > 1500][0] == 2000
    assert gate.is_open


def test_run_limit_does_not_open_on_an_old_run() -> None:
    gate = SpeechGate(LIMITED)
    run(gate, [(1000, False)] + [(50, True)] * 20)  # onset 1000, limit passed at 1500
    assert not gate.is_open
    assert gate.feed(stream(50, 2000), 2000, True) == []  # same run (no 200-sample pause)
    assert not gate.is_open


def counting(gate: SpeechGate, blocks: list[tuple[int, bool]], window: int
             ) -> dict[int, int | None]:
    """The chunks whose scores the trigger would count (scored, and within ``window`` of
    the onset when they are handed over): end position → that onset."""
    out, pos = {}, 0
    for n, voiced in blocks:
        for c in gate.feed(stream(n, pos), pos, voiced):
            onset = gate.speech_onset
            if c.scored and (onset is None or c.end_position - onset <= window):
                out[c.end_position] = onset
        pos += n
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 400), st.booleans()), min_size=1, max_size=40))
def test_run_limit_keeps_every_chunk_that_counts(blocks: list[tuple[int, bool]]) -> None:
    unlimited = SpeechGate(dataclasses.replace(LIMITED, run_limit_samples=None))
    limited = SpeechGate(LIMITED)
    kept, full = counting(limited, blocks, 500), counting(unlimited, blocks, 500)
    # Every chunk of a run of speech that counts without the limit counts with it (or is
    # still in its backlog). Pre-roll chunks (ending before the onset: no wake word has
    # ended there) may differ: the unlimited gate counts the tail of a run too old to
    # count when it runs it late, after a new onset; the limited one re-warms the
    # model on the new pre-roll.
    total = sum(n for n, _ in blocks)
    in_runs = {e for e, onset in full.items() if onset is None or e > onset}
    assert all(e > total - limited.backlog_samples for e in in_runs - set(kept))
    assert all((onset := kept[e]) is not None and e <= onset for e in set(kept) - set(full))
