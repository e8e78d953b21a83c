"""Test speech synthesised with the eSpeak NG command, with exact ground truth.

Each spoken piece is synthesised alone, trimmed to its first and last sample above
-50 dBFS, resampled and placed at a known offset in silence, so where every
utterance starts and ends (and what was said) is known to the sample.
"""

from __future__ import annotations

import functools
import io
import subprocess
import wave
from dataclasses import dataclass

import numpy as np
import soxr

TRIM_THRESHOLD = 10 ** (-50 / 20)


@dataclass(frozen=True)
class Spoken:
    text: str
    start_s: float
    end_s: float


@functools.lru_cache(maxsize=64)
def _espeak(text: str, voice: str, wpm: int) -> tuple[bytes, int]:
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(io.BytesIO(out)) as w:
        return w.readframes(w.getnframes()), w.getframerate()


def synth(text: str, rate: int = 16_000, *, voice: str = "en-us", wpm: int = 170) -> np.ndarray:
    """``text`` spoken by espeak-ng, trimmed of leading/trailing silence, at ``rate``."""
    pcm, native = _espeak(text, voice, wpm)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(x) > TRIM_THRESHOLD)
    x = x[loud[0]: loud[-1] + 1]
    y = soxr.resample(x, native, rate).astype(np.float32) if rate != native else x
    return y


#: Room noises :func:`room_noise` makes: flat, 1/f, 1/f² spectra, and a fan (a low
#: rumble with a 50 Hz mains hum and a blade-pass tone, slowly wavering).
NOISE_KINDS = ("white", "pink", "brown", "fan")


def room_noise(kind: str, n: int, dbfs: float, rng: np.random.Generator,
               rate: int = 16_000) -> np.ndarray:
    """``n`` samples of ``kind`` noise (see :data:`NOISE_KINDS`) at ``dbfs`` RMS, from ``rng``."""
    if n == 0:
        return np.zeros(0, np.float32)
    white = rng.normal(0.0, 1.0, n)
    if kind == "white":
        x = white
    elif kind in ("pink", "brown"):
        # Shape the spectrum: amplitude 1/sqrt(f) (pink) or 1/f (brown), flat below 20 Hz
        # so the level is not all in an inaudible drift.
        spectrum = np.fft.rfft(white)
        f = np.maximum(np.fft.rfftfreq(n, 1 / rate), 20.0)
        spectrum /= np.sqrt(f) if kind == "pink" else f
        x = np.fft.irfft(spectrum, n)
    elif kind == "fan":
        spectrum = np.fft.rfft(white)
        f = np.fft.rfftfreq(n, 1 / rate)
        spectrum /= 1 + (f / 150.0) ** 2  # rumble: a 2nd-order roll-off above 150 Hz
        rumble = np.fft.irfft(spectrum, n)
        rumble /= np.std(rumble)
        t = np.arange(n) / rate
        waver = 1 + 0.2 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 2 * np.pi))
        hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k
                  for k in (1, 2, 3))
        blade = np.sin(2 * np.pi * rng.uniform(110, 160) * t)
        x = rumble + waver * (0.5 * hum + 0.4 * blade)
    else:
        raise ValueError(f"unknown noise {kind!r}; one of {NOISE_KINDS}")
    x = x - np.mean(x)
    return (x * (10 ** (dbfs / 20) / np.std(x))).astype(np.float32)


def compose(parts: list[str | float], rate: int = 16_000, *, voice: str = "en-us",
            wpm: int = 170, noise_dbfs: float | None = None, noise: str = "white",
            seed: int = 0) -> tuple[np.ndarray, list[Spoken]]:
    """Build a signal from ``parts``: a float is seconds of silence, a str is speech.

    Returns (float32 samples at ``rate``, where each spoken part starts and ends).
    With ``noise_dbfs``, ``noise`` (one of :data:`NOISE_KINDS`) at that RMS level is
    added everywhere, drawn from ``seed``.
    """
    pieces: list[np.ndarray] = []
    truth: list[Spoken] = []
    t = 0
    for part in parts:
        if isinstance(part, str):
            s = synth(part, rate, voice=voice, wpm=wpm)
            truth.append(Spoken(part, t / rate, (t + len(s)) / rate))
        else:
            s = np.zeros(int(round(part * rate)), dtype=np.float32)
        pieces.append(s)
        t += len(s)
    x = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    if noise_dbfs is not None:
        rng = np.random.default_rng(seed)
        if noise == "white":  # drawn as before this function took other noises
            x = x + rng.normal(0, 10 ** (noise_dbfs / 20), len(x)).astype(np.float32)
        else:
            x = x + room_noise(noise, len(x), noise_dbfs, rng, rate)
    return x.astype(np.float32), truth
