"""The speaker's clip mixer: clips added to the blocks whatever their size, the sum
clipped, overlapping clips, and no buffer allocated in the callback's call."""

from __future__ import annotations

import numpy as np
from allocs import peak_growth
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.playback.mixer import VOICES, ClipMixer


def _run(mixer: ClipMixer, base: np.ndarray, blocks: list[int]) -> np.ndarray:
    """Pull ``base`` through the mixer in blocks of the given sizes (as the callback)."""
    out = base.copy()
    pos = 0
    for n in blocks:
        mixer.mix_into(out[pos:pos + n])
        pos += n
    return out


def test_one_clip_is_added_once() -> None:
    clip = np.linspace(-0.2, 0.2, 300, dtype=np.float32)
    mixer = ClipMixer()
    mixer.play(clip)
    assert mixer.active
    out = _run(mixer, np.zeros(1000, np.float32), [128] * 8)
    assert np.array_equal(out[:300], clip) and not out[300:].any()
    assert not mixer.active


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=20),
       st.integers(1, 2000), st.floats(-0.9, 0.9))
def test_any_block_sizes_give_the_same_sum(blocks: list[int], length: int, level: float) -> None:
    rng = np.random.default_rng(length)
    base = rng.uniform(-0.5, 0.5, sum(blocks)).astype(np.float32)
    clip = (rng.uniform(-1, 1, length) * level).astype(np.float32)
    mixer = ClipMixer()
    mixer.play(clip)
    out = _run(mixer, base, blocks)
    expected = base.copy()
    n = min(len(base), len(clip))
    expected[:n] += clip[:n]
    np.clip(expected, -1, 1, out=expected)
    assert np.allclose(out, expected, atol=1e-6)


def test_sum_is_clipped_not_wrapped() -> None:
    mixer = ClipMixer()
    mixer.play(np.full(100, 0.8, np.float32))
    out = _run(mixer, np.full(100, 0.7, np.float32), [100])
    assert np.all(out == 1.0)


def test_overlapping_clips_mix_and_a_new_clip_takes_a_free_voice() -> None:
    mixer = ClipMixer()
    a = np.full(400, 0.1, np.float32)
    mixer.play(a)
    out = np.zeros(1000, np.float32)
    mixer.mix_into(out[:200])
    b = np.full(400, 0.2, np.float32)
    mixer.play(b)  # starts at sample 200, a still has 200 to go
    mixer.mix_into(out[200:1000])
    assert np.allclose(out[:200], 0.1)
    assert np.allclose(out[200:400], 0.3)
    assert np.allclose(out[400:600], 0.2)
    assert not out[600:].any()
    # More clips than voices: the one ending first gives way, nothing raises.
    for _ in range(VOICES + 2):
        mixer.play(np.full(50, 0.01, np.float32))
    mixer.mix_into(np.zeros(64, np.float32))


def test_mixing_allocates_no_buffer() -> None:
    """The PortAudio callback must not allocate arrays: the mixer writes in place."""
    mixer = ClipMixer()
    block = np.zeros(4096, np.float32)  # 16 KiB
    for _ in range(VOICES):
        mixer.play(np.full(48_000, 0.1, np.float32))
    mixer.mix_into(block)  # warm up
    peak, _ = peak_growth(lambda: mixer.mix_into(block), 5)
    assert peak < 2048, f"{peak} bytes allocated while mixing"
