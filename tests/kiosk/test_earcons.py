"""The earcons: short, faded (no click), never clipped, distinct, and the committed
WAVs in assets/earcons are what the module makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicebot.audio import decode_wav
from voicebot.kiosk.earcons import EARCON_NAMES, MAX_MS, NOTES, PEAK, duration_ms, synthesize

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "earcons"
RATES = (16_000, 24_000, 44_100, 48_000)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("name", EARCON_NAMES)
def test_short_faded_and_below_full_scale(name: str, rate: int) -> None:
    x = synthesize(name, rate)
    assert x.dtype == np.float32
    assert len(x) / rate * 1000 <= MAX_MS
    assert abs(len(x) / rate * 1000 - duration_ms(name)) < 1.0
    peak = float(np.max(np.abs(x)))
    assert peak == pytest.approx(PEAK, rel=1e-3)
    # Starts and ends at (almost) zero: no step when it begins or stops.
    assert abs(x[0]) < 1e-3 and abs(x[-1]) < 0.01 * PEAK
    # No click inside: no jump between samples larger than the loudest note's own
    # slope allows (2π f / rate per sample at amplitude PEAK, with the harmonic).
    f_max = max(n.freq_hz for n in NOTES[name])
    slope = PEAK * 2 * np.pi * f_max * 1.4 / rate
    assert float(np.max(np.abs(np.diff(x)))) <= slope


@pytest.mark.parametrize("name", EARCON_NAMES)
def test_dominant_frequency_is_the_first_note(name: str) -> None:
    rate = 48_000
    first = NOTES[name][0]
    x = synthesize(name, rate)[: int(first.ms * rate / 1000)]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), 1 << 16))
    freqs = np.fft.rfftfreq(1 << 16, 1 / rate)
    assert abs(freqs[int(np.argmax(spectrum))] - first.freq_hz) < 15


def test_earcons_tell_apart() -> None:
    """Each earcon correlates with itself far better than with any other (the audio
    tests find them on the virtual speaker by their waveform)."""
    rate = 48_000
    sounds = {n: synthesize(n, rate) for n in EARCON_NAMES}
    for a in EARCON_NAMES:
        for b in EARCON_NAMES:
            if a == b:
                continue
            x, y = sounds[a], sounds[b]
            corr = np.correlate(np.pad(x, len(y)), y, mode="valid")
            best = float(np.max(np.abs(corr)) / (np.linalg.norm(x) * np.linalg.norm(y)))
            assert best < 0.6, (a, b, best)


@pytest.mark.parametrize("name", EARCON_NAMES)
def test_committed_assets_match_the_module(name: str) -> None:
    """assets/earcons/NAME.wav is what scripts/make_earcons.py writes today."""
    samples, info = decode_wav((ASSETS / f"{name}.wav").read_bytes())
    assert info.channels == 1 and info.sample_rate == 48_000
    expected = synthesize(name, 48_000)
    assert len(samples) == len(expected)
    assert float(np.max(np.abs(samples[:, 0] - expected))) < 2 / 32768
