"""The self-test's pure analysis: the chirp, delays by correlation, levels, the verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.selftest.analysis import (
    CLIP_LEVEL,
    SILENCE_DBFS,
    Findings,
    Levels,
    Thresholds,
    chirp,
    dbfs,
    find_delay,
    levels,
    verdict,
)

RATE = 16_000


@pytest.mark.parametrize("amplitude, expected", [
    (1.0, 0.0), (0.5, 20 * math.log10(0.5)), (0.1, -20.0), (0.0, SILENCE_DBFS), (1e-9, SILENCE_DBFS),
])
def test_dbfs(amplitude: float, expected: float) -> None:
    assert dbfs(amplitude) == pytest.approx(expected)


@pytest.mark.parametrize("rate", [8_000, 16_000, 44_100, 48_000])
def test_chirp_level_length_and_fades(rate: int) -> None:
    sweep = chirp(rate, duration_s=0.3, level_dbfs=-12.0)
    assert len(sweep) == round(0.3 * rate)
    assert sweep.dtype == np.float32
    assert np.abs(sweep).max() == pytest.approx(10 ** (-12 / 20), rel=1e-3)
    assert abs(sweep[0]) < 1e-6 and abs(sweep[-1]) < 0.01  # faded: no click


def test_chirp_correlates_in_one_sharp_peak() -> None:
    sweep = chirp(RATE).astype(np.float64)
    full = np.correlate(sweep, sweep, "full")
    centre = len(sweep) - 1
    side = np.abs(np.delete(full, range(centre - 8, centre + 9)))
    assert side.max() < 0.3 * full[centre]


@pytest.mark.parametrize("lag", [0, 1, 17, 800, 4_321])
@pytest.mark.parametrize("gain", [1.0, 0.05])
def test_find_delay_finds_the_copy(lag: int, gain: float) -> None:
    rng = np.random.default_rng(lag)
    sweep = chirp(RATE)
    rec = rng.normal(0, 0.001, lag + len(sweep) + 1000).astype(np.float32)
    rec[lag:lag + len(sweep)] += gain * sweep
    found = find_delay(rec, sweep)
    assert found.lag == lag
    assert found.correlation > 0.9


def test_find_delay_prefers_the_exact_quiet_copy_over_loud_noise() -> None:
    rng = np.random.default_rng(1)
    sweep = chirp(RATE)
    rec = np.zeros(3 * len(sweep), np.float32)
    rec[:len(sweep)] = rng.normal(0, 0.5, len(sweep))  # loud, unrelated
    rec[2 * len(sweep):] = 0.01 * sweep
    assert find_delay(rec, sweep).lag == 2 * len(sweep)


def test_find_delay_respects_min_lag() -> None:
    sweep = chirp(RATE)
    rec = np.zeros(4 * len(sweep), np.float32)
    rec[:len(sweep)] = sweep  # the probe's own echo before min_lag: not what we look for
    rec[2 * len(sweep):3 * len(sweep)] = 0.5 * sweep
    assert find_delay(rec, sweep, min_lag=len(sweep)).lag == 2 * len(sweep)


@pytest.mark.parametrize("rec", [np.zeros(10_000, np.float32), np.zeros(10, np.float32)])
def test_find_delay_silence_or_short_is_not_a_match(rec: np.ndarray) -> None:
    assert find_delay(rec, chirp(RATE)).correlation == 0.0


def test_find_delay_unrelated_noise_scores_low() -> None:
    rng = np.random.default_rng(7)
    rec = rng.normal(0, 0.1, RATE * 2).astype(np.float32)
    assert find_delay(rec, chirp(RATE)).correlation < 0.2


@settings(max_examples=30, deadline=None)
@given(lag=st.integers(0, 3000), gain_db=st.floats(-40, 0), seed=st.integers(0, 2**16))
def test_find_delay_property(lag: int, gain_db: float, seed: int) -> None:
    sweep = chirp(RATE, duration_s=0.1)
    rng = np.random.default_rng(seed)
    rec = rng.normal(0, 1e-4, lag + len(sweep) + 500).astype(np.float32)
    rec[lag:lag + len(sweep)] += 10 ** (gain_db / 20) * sweep
    found = find_delay(rec, sweep)
    assert found.lag == lag and found.correlation > 0.8


@pytest.mark.parametrize("samples, peak, rms, clipped", [
    (np.zeros(100), SILENCE_DBFS, SILENCE_DBFS, 0),
    (np.array([]), SILENCE_DBFS, SILENCE_DBFS, 0),
    (np.full(100, 0.5), 20 * math.log10(0.5), 20 * math.log10(0.5), 0),
    (np.array([1.0, -1.0, 0.0, 0.0]), 0.0, 20 * math.log10(math.sqrt(0.5)), 2),
    (np.array([CLIP_LEVEL, -0.998]), dbfs(CLIP_LEVEL), dbfs(math.sqrt((CLIP_LEVEL ** 2 + 0.998 ** 2) / 2)), 1),
])
def test_levels(samples: np.ndarray, peak: float, rms: float, clipped: int) -> None:
    got = levels(samples)
    assert got.peak_dbfs == pytest.approx(peak)
    assert got.rms_dbfs == pytest.approx(rms)
    assert got.clipped == clipped


def test_levels_of_a_sine() -> None:
    t = np.arange(RATE) / RATE
    got = levels(0.5 * np.sin(2 * np.pi * 440 * t))
    assert got.peak_dbfs == pytest.approx(dbfs(0.5), abs=0.01)
    assert got.rms_dbfs == pytest.approx(dbfs(0.5 / math.sqrt(2)), abs=0.01)


_GOOD = Findings(correlation=0.95, latency_ms=120.0, chirp=Levels(-20.0, -25.0, 0),
                 noise_floor_dbfs=-70.0, phrase_detected=True, wake_word_detected=None)


@pytest.mark.parametrize("change, passed, says", [
    ({}, True, "hears the speaker"),
    ({"correlation": 0.1, "latency_ms": None}, False, "did not hear"),
    ({"chirp": Levels(0.0, -3.0, 12)}, False, "clipped"),
    ({"noise_floor_dbfs": -30.0}, False, "above the noise floor"),
    ({"latency_ms": 900.0}, False, "latency"),
    ({"phrase_detected": False}, False, "voice activity"),
    ({"wake_word_detected": False}, False, "wake word"),
    ({"wake_word_detected": True}, True, "hears the speaker"),
])
def test_verdict(change: dict, passed: bool, says: str) -> None:
    import dataclasses

    ok, line = verdict(dataclasses.replace(_GOOD, **change), Thresholds())
    assert ok is passed
    assert says in line
    assert "\n" not in line
