"""The pure parts of echo cancellation: reference timeline, capture clock, delay estimator."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
from aec_scene import double_talk_parts, reply, room_impulse_response, scene, to_pcm16
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.capture import aec_align
from voicebot.capture.aec_align import CaptureClock, DelayEstimator, ReferenceTimeline

RATE = 16_000


def test_imports_nothing_but_numpy() -> None:
    tree = ast.parse(inspect.getsource(aec_align))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert names <= {"__future__", "collections", "numpy"}, names


def _signal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20000, 20000, n).astype(np.int16)


def _read(tl: ReferenceTimeline, start: int, n: int) -> np.ndarray:
    out = np.full(n, 7, np.int16)
    tl.read(start, out)
    return out


@pytest.mark.parametrize("chunk", [1, 7, 160, 333, 4000])
def test_chunks_with_jittered_times_read_back_whole(chunk: int) -> None:
    x = _signal(4000)
    tl = ReferenceTimeline(RATE, capacity_s=1.0)
    t0 = 100.0
    rng = np.random.default_rng(chunk)
    for i in range(0, len(x), chunk):
        # Within the 4 ms tolerance; the first push anchors the run.
        jitter = rng.uniform(-0.003, 0.003) if i else 0.0
        tl.push(x[i:i + chunk], t0 + i / RATE + jitter)
    start = tl.slot(t0)
    assert np.array_equal(_read(tl, start, len(x)), x)
    # Before the first and after the last sample: silence.
    assert not _read(tl, start - 50, 50).any() and not _read(tl, start + len(x), 50).any()


@given(st.lists(st.integers(1, 900), min_size=1, max_size=12), st.integers(-1000, 5000))
@settings(max_examples=60, deadline=None)
def test_read_is_the_pushed_signal_at_every_offset(chunks: list[int], offset: int) -> None:
    x = _signal(sum(chunks), seed=len(chunks))
    tl = ReferenceTimeline(RATE, capacity_s=1.0)
    t, i = 50.0, 0
    for c in chunks:
        tl.push(x[i:i + c], t + i / RATE)
        i += c
    start = tl.slot(t)
    got = _read(tl, start + offset, 700)
    want = np.zeros(700, np.int16)
    lo, hi = max(0, offset), min(len(x), offset + 700)
    if lo < hi:
        want[lo - offset:hi - offset] = x[lo:hi]
    assert np.array_equal(got, want)


def test_a_gap_is_silence_and_old_audio_is_forgotten() -> None:
    tl = ReferenceTimeline(RATE, capacity_s=0.5)
    a, b = _signal(800, 1), _signal(800, 2)
    tl.push(a, 10.0)
    tl.push(b, 10.2)  # 150 ms after a ended: a new run
    s = tl.slot(10.0)
    got = _read(tl, s, int(0.25 * RATE))
    assert np.array_equal(got[:800], a) and not got[800:3200].any()
    assert np.array_equal(got[3200:], b[: len(got) - 3200])
    assert tl.overlaps(s, s + 1) and not tl.overlaps(s + 900, s + 3100)
    tl.push(_signal(800, 3), 11.0)  # 0.8 s later: beyond the capacity, `a` is gone
    assert not _read(tl, s, 800).any()


def test_capture_clock_keeps_blocks_contiguous_and_resyncs_on_a_jump() -> None:
    clock = CaptureClock(RATE)
    slots = [clock.place(5.0 + k * 0.02 + (0.002 if k % 2 else -0.002), 320) for k in range(10)]
    assert slots == [slots[0] + 320 * k for k in range(10)]
    assert clock.resyncs == 0
    later = clock.place(5.0 + 0.5, 320)  # a dropped stretch
    assert later == round(5.5 * RATE) and clock.resyncs == 1


def _estimate(mic: np.ndarray, ref: np.ndarray, block: int = 640) -> list[tuple[float, int]]:
    m, r = (np.frombuffer(to_pcm16(v), np.int16) for v in (mic, ref))
    est = DelayEstimator(RATE)
    changes = []
    for i in range(0, len(m) - block + 1, block):
        c = est.push(m[i:i + block], r[i:i + block])
        if c is not None:
            changes.append((i / RATE, c))
    return changes


@pytest.mark.parametrize("delay_ms", [0, 40, 120, 300])
def test_delay_is_found_on_speech(delay_ms: float) -> None:
    ref = reply(4.0)
    changes = _estimate(scene(ref, rir=room_impulse_response(delay_ms=delay_ms)).mic, ref)
    assert changes, "no estimate"
    first_at, first = changes[0]
    assert abs(first - delay_ms * RATE / 1000) <= 8  # 0.5 ms: two decimated samples
    assert first_at <= 1.0
    assert len(changes) == 1  # never moves away from the truth


def test_delay_holds_through_double_talk() -> None:
    ref = reply(8.0)
    mic = scene(ref, rir=room_impulse_response(delay_ms=60),
                near=double_talk_parts(8.0, first_s=0.3, every_s=2.5)).mic
    changes = _estimate(mic, ref)
    assert changes and all(abs(d - 960) <= 8 for _, d in changes)


def test_no_estimate_without_reference_or_echo() -> None:
    ref = reply(3.0)
    assert _estimate(np.zeros_like(ref), np.zeros_like(ref)) == []
    noise = np.random.default_rng(3).normal(0, 0.01, len(ref)).astype(np.float32)
    assert _estimate(noise, ref) == []  # headphones: the mic never hears the reply


def test_a_moved_delay_is_found_at_once_after_wake() -> None:
    """Resting on a measured delay, the echo path moves (a loopback came back 20 ms
    later): woken, the estimator takes the new delay within half a second of audio."""
    ref = reply(6.0)
    before = scene(ref, rir=room_impulse_response(delay_ms=40)).mic
    after = scene(ref, rir=room_impulse_response(delay_ms=60)).mic
    k = 3 * RATE
    mic = np.concatenate([before[:k], after[k:]])
    m, r = (np.frombuffer(to_pcm16(v), np.int16) for v in (mic, ref))
    est = DelayEstimator(RATE)
    block = 320
    for i in range(0, k, block):
        est.push(m[i:i + block], r[i:i + block])
    assert est.delay is not None and abs(est.delay - 640) <= 8
    woken_at = k + RATE // 10  # the guard notices within 100 ms
    for i in range(k, woken_at, block):
        assert est.push(m[i:i + block], r[i:i + block]) is None
    est.wake()
    assert est.urgent and est.wakes == 1
    found = None
    for i in range(woken_at, len(m) - block, block):
        if est.push(m[i:i + block], r[i:i + block]) is not None:
            found = i
            break
    assert found is not None and abs((est.delay or 0) - 960) <= 8
    assert (found - k) / RATE <= 0.6, (found - k) / RATE
    assert not est.urgent
