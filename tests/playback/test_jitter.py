"""JitterBuffer: table tests, chunking invariance, hypothesis properties, no allocation.

Signals are random with every sample's magnitude in [0.1, 0.9], so a real sample
(faded or not) is never 0 and silence is exactly 0: the real samples in an output are
``out[out != 0]``. Expected values come from the input signal and from the fade law
documented in jitter.py (gain ``(j+1)/(F+1)`` in, ``(F-j)/(F+1)`` out).
"""

from __future__ import annotations


import numpy as np
import pytest
from allocs import peak_growth
from hypothesis import example, given, settings
from hypothesis import strategies as st

from voicebot.playback.jitter import (MAX_CANCEL_FADE_MS, JitterBuffer, JitterPolicy,
                                      PlaybackState)

RATE = 1000  # 1 frame per millisecond keeps the arithmetic readable


def signal(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.1, 0.9, n) * rng.choice([-1.0, 1.0], n)).astype(np.float32)


def pull(jb: JitterBuffer, n: int) -> np.ndarray:
    out = np.full(n, np.nan, np.float32)  # NaN: a frame pull forgot to fill shows up
    jb.pull(out)
    assert not np.isnan(out).any()
    return out


def pull_until_ended(jb: JitterBuffer, n: int, limit: int = 100_000) -> np.ndarray:
    outs = []
    for _ in range(limit):
        outs.append(pull(jb, n))
        if jb.state is PlaybackState.ENDED:
            break
    return np.concatenate(outs)


def fade_in(f: int) -> np.ndarray:
    return (np.arange(f) + 1) / (f + 1)


def fade_out(f: int) -> np.ndarray:
    return (f - np.arange(f)) / (f + 1)


# ------------------------------------------------------------------ table tests

def test_waits_for_prebuffer_then_plays_unfaded() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(50), fade_ms=3)
    x = signal(100)
    jb.push(x[:49])
    assert not pull(jb, 10).any()
    assert jb.state is PlaybackState.WAITING and jb.frames_played == 0
    jb.push(x[49:50])
    np.testing.assert_array_equal(pull(jb, 10), x[:10])
    assert jb.state is PlaybackState.PLAYING and jb.frames_played == 10


def test_zero_prebuffer_still_needs_one_block_plus_fade_reserve() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(0), fade_ms=3)
    x = signal(13)
    jb.push(x[:12])
    assert not pull(jb, 10).any()       # 12 < 10 + 3: would underrun at once
    jb.push(x[12:])
    np.testing.assert_array_equal(pull(jb, 10), x[:10])


def test_end_of_stream_plays_short_reply_at_once_unfaded() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(200), fade_ms=3)
    x = signal(25)
    jb.push(x)
    assert not pull(jb, 10).any()
    jb.end_of_stream()
    out = np.concatenate([pull(jb, 10), pull(jb, 10), pull(jb, 10)])
    np.testing.assert_array_equal(out[:25], x)
    assert not out[25:].any()
    assert jb.state is PlaybackState.ENDED and jb.finished and jb.underruns == 0


def test_end_of_stream_without_audio_ends_immediately() -> None:
    jb = JitterBuffer(RATE)
    jb.end_of_stream()
    assert not pull(jb, 10).any()
    assert jb.state is PlaybackState.ENDED and jb.finished


def test_underrun_fades_out_then_rebuffers_and_fades_in() -> None:
    f = 3
    jb = JitterBuffer(RATE, JitterPolicy.fixed(40, 20), fade_ms=f)
    x = signal(100)
    jb.push(x[:40])
    played = [pull(jb, 10) for _ in range(4)]
    # Three blocks keep f frames in reserve; the 4th cannot, so it fades out its end.
    np.testing.assert_array_equal(np.concatenate(played[:3]), x[:30])
    np.testing.assert_allclose(played[3], x[30:40] * np.r_[np.ones(10 - f), fade_out(f)],
                               rtol=1e-6)
    assert jb.underruns == 1 and jb.state is PlaybackState.WAITING
    assert not pull(jb, 10).any()
    jb.push(x[40:59])                   # 19 < rebuffer target 20
    assert not pull(jb, 10).any()
    jb.push(x[59:60])
    np.testing.assert_allclose(pull(jb, 10), x[40:50] * np.r_[fade_in(f), np.ones(10 - f)],
                               rtol=1e-6)
    assert jb.state is PlaybackState.PLAYING
    jb.push(x[60:])
    jb.end_of_stream()
    tail = pull_until_ended(jb, 10)
    np.testing.assert_array_equal(tail[tail != 0], x[50:])
    assert jb.frames_played == jb.frames_pushed == 100 and jb.finished


def test_underrun_with_short_buffer_fades_what_there_is_and_pads_silence() -> None:
    f = 3
    jb = JitterBuffer(RATE, JitterPolicy.fixed(13), fade_ms=f)
    x = signal(13)
    jb.push(x)
    np.testing.assert_array_equal(pull(jb, 10), x[:10])
    out = pull(jb, 10)                  # 3 left (the reserve): faded, then silence
    np.testing.assert_allclose(out[:3], x[10:] * fade_out(f), rtol=1e-6)
    assert not out[3:].any() and jb.underruns == 1


def test_cancel_reaches_silence_within_20ms_and_drops_the_rest() -> None:
    rate = 48_000
    jb = JitterBuffer(rate, JitterPolicy.fixed(50))
    x = signal(rate)
    jb.push(x)
    pull(jb, 480)
    jb.cancel()
    out = np.concatenate([pull(jb, 128) for _ in range(20)])
    limit = int(rate * MAX_CANCEL_FADE_MS / 1000)
    assert np.flatnonzero(out).max() < limit
    # the fade is monotonic: each real sample's gain is below the previous one's
    gains = out[out != 0] / x[480:480 + np.count_nonzero(out)]
    assert (np.diff(gains) < 0).all() and 0 < gains.min() and gains.max() < 1
    assert jb.state is PlaybackState.ENDED and jb.cancelled and not jb.finished
    assert jb.buffered_frames == 0
    jb.push(x[:100])
    assert jb.frames_dropped == 100 and not pull(jb, 480).any()


def test_stop_now_ends_the_reply_where_it_was_pulled_keeping_its_counters() -> None:
    """The consumer's stream was aborted: no fade will be pulled, the reply ends
    here, what it played stays counted and the generation stays (its position is
    still asked for), later pushes are dropped until reset."""
    jb = JitterBuffer(RATE, JitterPolicy.fixed(10), fade_ms=0)
    x = signal(2000)
    jb.push(x)
    generation = jb.generation
    np.testing.assert_array_equal(pull(jb, 300), x[:300])
    jb.stop_now()
    assert jb.state is PlaybackState.ENDED and jb.cancelled and not jb.finished
    assert jb.buffered_frames == 0 and jb.frames_played == 300
    assert jb.generation == generation
    jb.push(x[:50])
    assert jb.frames_dropped == 50 and not pull(jb, 100).any()
    jb.reset()
    jb.push(x[:500])
    assert jb.generation == generation + 1 and not jb.cancelled


def test_cancel_while_waiting_is_silent_at_once() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(100))
    jb.push(signal(50))
    jb.cancel()
    assert not pull(jb, 10).any()
    assert jb.state is PlaybackState.ENDED and jb.buffered_frames == 0


def test_cancel_fade_spans_tiny_pulls() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(10), cancel_fade_ms=10, fade_ms=0)
    x = signal(100)
    jb.push(x)
    np.testing.assert_array_equal(pull(jb, 10), x[:10])
    jb.cancel()
    out = np.concatenate([pull(jb, 1) for _ in range(15)])
    np.testing.assert_allclose(out[:10], x[10:20] * fade_out(10), rtol=1e-6)
    assert not out[10:].any()


def test_grows_capacity_and_keeps_order() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(5), capacity_ms=8, fade_ms=2)
    x = signal(500)
    outs = [pull(jb, 3)]
    for i in range(0, 500, 50):         # pushes of 50 into a ring of 8, pulls in between
        jb.push(x[i:i + 50])
        outs.append(pull(jb, 3))
    jb.end_of_stream()
    outs.append(pull_until_ended(jb, 7))
    out = np.concatenate(outs)
    assert jb.capacity_frames >= 50 and jb.underruns == 0
    np.testing.assert_array_equal(out[out != 0], x)


def test_reset_starts_a_fresh_reply() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(20))
    jb.push(signal(30, seed=1))
    jb.end_of_stream()
    pull_until_ended(jb, 10)
    assert jb.finished
    jb.reset()
    assert jb.state is PlaybackState.WAITING and jb.frames_pushed == jb.frames_played == 0
    assert not jb.finished
    y = signal(30, seed=2)
    jb.push(y)
    assert jb.frames_dropped == 0
    np.testing.assert_array_equal(pull(jb, 10), y[:10])


def test_pull_fills_a_strided_channel_view() -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(10))
    x = signal(20)
    jb.push(x)
    block = np.full((10, 2), 7.0, np.float32)
    jb.pull(block[:, 0])
    np.testing.assert_array_equal(block[:, 0], x[:10])
    assert (block[:, 1] == 7.0).all()


@pytest.mark.parametrize("bad", [dict(cancel_fade_ms=25), dict(prebuffer_ms=-1),
                                 dict(fade_ms=-1)])
def test_rejects_bad_options(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        if "prebuffer_ms" in bad:  # the prebuffer is the policy's now
            JitterBuffer(RATE, JitterPolicy.fixed(bad["prebuffer_ms"]))
        else:
            JitterBuffer(RATE, **bad)


# ------------------------------------------------ chunking: whole, one by one, every split

def _play(jb: JitterBuffer, chunks: list[np.ndarray], pull_size: int, *,
          pull_between: bool) -> np.ndarray:
    outs = []
    for c in chunks:
        jb.push(c)
        if pull_between:
            outs.append(pull(jb, pull_size))
    jb.end_of_stream()
    outs.append(pull_until_ended(jb, pull_size))
    return np.concatenate(outs)


def test_push_chunking_does_not_change_the_output() -> None:
    x = signal(60)
    cuts = [[x], [x[i:i + 1] for i in range(60)]] + [[x[:c], x[c:]] for c in range(61)]
    for chunks in cuts:
        out = _play(JitterBuffer(RATE, JitterPolicy.fixed(10), capacity_ms=16), chunks, 7,
                    pull_between=False)
        np.testing.assert_array_equal(out[:60], x)
        assert not out[60:].any()


def test_push_chunking_with_pulls_between_keeps_every_sample() -> None:
    # Pulls between pushes underrun here; without fades the real samples are exact.
    x = signal(60)
    cuts = [[x], [x[i:i + 1] for i in range(60)]] + [[x[:c], x[c:]] for c in range(61)]
    for chunks in cuts:
        jb = JitterBuffer(RATE, JitterPolicy.fixed(10), capacity_ms=16, fade_ms=0)
        out = _play(jb, chunks, 7, pull_between=True)
        np.testing.assert_array_equal(out[out != 0], x)


# ------------------------------------------------------------------ properties

ops = st.lists(st.tuples(st.sampled_from(["push", "pull"]), st.integers(1, 40)), max_size=60)


def _run_ops(jb: JitterBuffer, x: np.ndarray, script: list[tuple[str, int]],
             final_pull: int) -> np.ndarray:
    outs, pos = [], 0
    for op, k in script:
        if op == "push":
            jb.push(x[pos:pos + k])
            pos += min(k, len(x) - pos)
        else:
            outs.append(pull(jb, k))
    jb.push(x[pos:])
    jb.end_of_stream()
    outs.append(pull_until_ended(jb, final_pull))
    return np.concatenate(outs)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 600), script=ops, final_pull=st.integers(1, 50),
       prebuffer_ms=st.sampled_from([0, 5, 30]), fade_ms=st.sampled_from([0, 1, 4]),
       seed=st.integers(0, 2**16))
# Found by hypothesis: a 1-frame pull underruns, so the fade-out is compressed to 1 frame.
@example(n=5, script=[("push", 5), ("pull", 1), ("pull", 1)], final_pull=1, prebuffer_ms=0,
         fade_ms=4, seed=0)
def test_real_samples_are_the_input_in_order(n: int, script: list[tuple[str, int]],
                                              final_pull: int, prebuffer_ms: int,
                                              fade_ms: int, seed: int) -> None:
    x = signal(n, seed)
    jb = JitterBuffer(RATE, JitterPolicy.fixed(prebuffer_ms), fade_ms=fade_ms, capacity_ms=16)
    out = _run_ops(jb, x, script, final_pull)
    real = out[out != 0]
    assert len(real) == n == jb.frames_played == jb.frames_pushed and jb.finished
    if jb.underruns == 0 or fade_ms == 0:
        np.testing.assert_array_equal(real, x)
        return
    # With underruns, samples differ from the input only by fade gains: each one a
    # step j/(k+1) of a ramp of k <= fade frames (a fade-out is compressed into a
    # pull shorter than the fade), or the product of two (fade-in meeting fade-out).
    gain = real.astype(np.float64) / x
    faded = np.abs(gain - 1) > 1e-6
    assert np.count_nonzero(faded) <= 2 * fade_ms * jb.underruns
    steps = np.array([j / (k + 1) for k in range(1, fade_ms + 1) for j in range(1, k + 1)])
    allowed = np.concatenate([steps, np.outer(steps, steps).ravel()])
    distance = np.abs(gain[faded][:, None] - allowed[None, :]).min(axis=1)
    assert (distance < 1e-4).all(), gain[faded]


@settings(max_examples=100, deadline=None)
@given(played_before=st.integers(0, 300), pulls=st.lists(st.integers(1, 64), min_size=1,
                                                          max_size=20),
       cancel_fade_ms=st.integers(0, 20))
def test_cancel_is_silent_after_the_fade(played_before: int, pulls: list[int],
                                         cancel_fade_ms: int) -> None:
    jb = JitterBuffer(RATE, JitterPolicy.fixed(10), cancel_fade_ms=cancel_fade_ms)
    x = signal(400)
    jb.push(x)
    pull(jb, played_before) if played_before else None
    jb.cancel()
    out = np.concatenate([pull(jb, k) for k in pulls] + [pull(jb, cancel_fade_ms + 1)])
    nonzero = np.flatnonzero(out)
    assert nonzero.size == 0 or nonzero.max() < cancel_fade_ms
    assert jb.state is PlaybackState.ENDED and jb.buffered_frames == 0


# ------------------------------------------------------------------ no allocation

@pytest.mark.parametrize("scenario", ["steady", "underrun", "cancel", "adaptive"])
def test_pull_allocates_no_arrays(scenario: str) -> None:
    frames = 2048  # one output block is 8 KiB: any array copy of it would show
    rate = 48_000
    adaptive = scenario == "adaptive"
    jb = JitterBuffer(rate, JitterPolicy() if adaptive else JitterPolicy.fixed(50),
                      capacity_ms=60_000)
    x = signal(rate * (45 if scenario in ("steady", "adaptive") else 1))
    if adaptive:  # pushed with arrival times (1 s pieces at 1.2x real time)
        for k in range(45):
            jb.push(x[k * rate:(k + 1) * rate], now=k / 1.2)
    else:
        jb.push(x)
    block = np.zeros((frames, 2), np.float32)
    out = block[:, 0]  # strided, as in the speaker's callback
    jb.pull(out)
    if scenario == "cancel":
        jb.cancel()
    peak, current = peak_growth(lambda: jb.pull(out), 1000)
    if scenario == "underrun":
        assert jb.underruns == 1
    # A few transient views and ints, never a block-sized array (frames * 4 bytes).
    assert peak < frames
    assert current < 1024
