"""The self-test's signal analysis: the chirp, its delay in a recording, levels, a verdict.

Pure: numpy arrays in, numbers and records out; no device, no clock. Mono float32
samples in [-1, 1] at one ``sample_rate`` throughout.

Why hand-written: the cross-correlation is three FFTs (numpy has them; scipy, not a
dependency, would add ~40 MB for ``scipy.signal.correlate``), and levels are a few
lines of arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["chirp", "Delay", "find_delay", "Levels", "levels", "dbfs", "Thresholds",
           "Findings", "verdict", "CLIP_LEVEL", "SILENCE_DBFS"]

#: A sample at or above this magnitude counts as clipped (the ADC's or the float
#: conversion's ceiling: PCM16 full scale is 32767/32768 = 0.99997).
CLIP_LEVEL = 0.999
#: What dBFS a signal of all zeros reports (log of zero has no value).
SILENCE_DBFS = -120.0


def dbfs(amplitude: float) -> float:
    """``amplitude`` (1.0 = full scale) in dB relative to full scale, floored at
    :data:`SILENCE_DBFS`."""
    if amplitude <= 10 ** (SILENCE_DBFS / 20):
        return SILENCE_DBFS
    return 20.0 * math.log10(amplitude)


def chirp(sample_rate: int, *, duration_s: float = 0.3, start_hz: float = 300.0,
          end_hz: float = 6000.0, level_dbfs: float = -12.0, fade_ms: float = 5.0) -> np.ndarray:
    """An exponential sine sweep from ``start_hz`` to ``end_hz`` (float32, mono).

    A sweep correlates with itself in one sharp peak (unlike a tone, whose
    correlation repeats every period) and spans the speech band, so its delay is
    found to the sample through small speakers and resamplers. Faded in and out
    (raised-cosine, ``fade_ms``) so neither end clicks. ``end_hz`` is clipped below
    Nyquist.
    """
    n = max(2, int(round(duration_s * sample_rate)))
    end_hz = min(end_hz, 0.45 * sample_rate)
    if not 0 < start_hz < end_hz:
        raise ValueError("chirp needs 0 < start_hz < end_hz < 0.45 * sample_rate")
    t = np.arange(n) / sample_rate
    k = math.log(end_hz / start_hz)
    phase = 2 * math.pi * start_hz * duration_s / k * (np.exp(t / duration_s * k) - 1.0)
    out = np.sin(phase) * 10 ** (level_dbfs / 20)
    fade = min(n // 2, int(round(fade_ms / 1000 * sample_rate)))
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        out[:fade] *= ramp
        out[n - fade:] *= ramp[::-1]
    return out.astype(np.float32)


@dataclass(frozen=True)
class Delay:
    """Where ``reference`` best matches in a recording.

    ``lag``: the recording sample where the reference starts. ``correlation``: the
    normalised correlation there (1: the same waveform, any gain; ~0: not there).
    """

    lag: int
    correlation: float


def find_delay(recording: np.ndarray, reference: np.ndarray, *, min_lag: int = 0) -> Delay:
    """The lag (≥ ``min_lag``) at which ``reference`` best matches ``recording``.

    Cross-correlation by FFT, normalised at every lag by the energy of the recording
    under the reference (so a loud noise burst does not win over a quiet but exact
    copy). A recording shorter than the reference, or silent, gives correlation 0.
    """
    rec = np.asarray(recording, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    m = len(ref)
    if m == 0 or len(rec) < m + min_lag:
        return Delay(0, 0.0)
    ref_energy = float(np.dot(ref, ref))
    if ref_energy <= 0:
        return Delay(0, 0.0)
    size = 1 << (len(rec) + m - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = len(rec) - m + 1
    corr = corr[:lags]
    cumulative = np.concatenate(([0.0], np.cumsum(rec * rec)))
    window_energy = cumulative[m:m + lags] - cumulative[:lags]
    # Windows of (near) digital silence: nothing to match there.
    floor = ref_energy * 1e-12
    norm = np.where(window_energy > floor, np.sqrt(np.maximum(window_energy, floor) * ref_energy),
                    np.inf)
    score = corr / norm
    score[:min_lag] = -np.inf
    lag = int(np.argmax(score))
    best = float(score[lag])
    if not math.isfinite(best):
        return Delay(0, 0.0)
    return Delay(lag, max(0.0, min(1.0, best)))


@dataclass(frozen=True)
class Levels:
    """``peak_dbfs`` and ``rms_dbfs`` of a stretch of samples; ``clipped``: how many
    were at or above :data:`CLIP_LEVEL`."""

    peak_dbfs: float
    rms_dbfs: float
    clipped: int


def levels(samples: np.ndarray) -> Levels:
    """Peak, RMS and clipped samples of ``samples`` (empty: silence)."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) == 0:
        return Levels(SILENCE_DBFS, SILENCE_DBFS, 0)
    mag = np.abs(x)
    return Levels(peak_dbfs=dbfs(float(mag.max())), rms_dbfs=dbfs(math.sqrt(float(np.mean(x * x)))),
                  clipped=int(np.count_nonzero(mag >= CLIP_LEVEL)))


@dataclass(frozen=True)
class Thresholds:
    """What a working speaker → microphone path must reach.

    ``min_correlation``: the chirp must be recognisable (0.5: a clean path gives
    > 0.9, a room with a small speaker 0.6–0.9, no path at all < 0.1 over a 0.3 s
    sweep). ``min_snr_db``: the chirp must stand this far above the noise floor for
    the VAD and the wake word to have a chance. ``max_latency_ms``: beyond half a
    second the echo canceller's window (and the user) give up.
    """

    min_correlation: float = 0.5
    min_snr_db: float = 15.0
    max_latency_ms: float = 500.0


@dataclass(frozen=True)
class Findings:
    """What the self-test measured; ``None`` where a stage did not run."""

    correlation: float
    latency_ms: float | None
    chirp: Levels
    noise_floor_dbfs: float
    phrase_detected: bool | None
    wake_word_detected: bool | None


def verdict(f: Findings, t: Thresholds = Thresholds()) -> tuple[bool, str]:
    """(passed, the one line that says why), the first problem found winning."""
    if f.correlation < t.min_correlation:
        return False, (f"the microphone did not hear the speaker's chirp (correlation "
                       f"{f.correlation:.2f} < {t.min_correlation:g}): check the speaker's volume, "
                       "the microphone, and which devices are used (`voicebot devices`)")
    if f.chirp.clipped:
        return False, (f"the microphone clipped the chirp ({f.chirp.clipped} samples at full "
                       "scale): lower the speaker volume or the microphone gain")
    snr_db = f.chirp.rms_dbfs - f.noise_floor_dbfs
    if snr_db < t.min_snr_db:
        return False, (f"the chirp is only {snr_db:.0f} dB above the noise floor "
                       f"({f.noise_floor_dbfs:.0f} dBFS; {t.min_snr_db:g} dB needed): raise "
                       "the speaker volume or move the microphone closer")
    if f.latency_ms is not None and f.latency_ms > t.max_latency_ms:
        return False, (f"round-trip latency {f.latency_ms:.0f} ms is over "
                       f"{t.max_latency_ms:g} ms: use smaller device buffers")
    if f.phrase_detected is False:
        return False, "voice activity detection missed the test phrase played on the speaker"
    if f.wake_word_detected is False:
        return False, "the wake word detector missed the wake word played on the speaker"
    return True, (f"the microphone hears the speaker: {f.latency_ms:.0f} ms round trip, "
                  f"{snr_db:.0f} dB above the noise floor" if f.latency_ms is not None else
                  f"the microphone hears the speaker, {snr_db:.0f} dB above the noise floor")
