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


def compose(parts: list[str | float], rate: int = 16_000, *, voice: str = "en-us",
            wpm: int = 170, noise_dbfs: float | None = None,
            seed: int = 0) -> tuple[np.ndarray, list[Spoken]]:
    """Build a signal from ``parts``: a float is seconds of silence, a str is speech.

    Returns (float32 samples at ``rate``, where each spoken part starts and ends).
    With ``noise_dbfs``, white noise at that RMS level is added everywhere.
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
        x = x + rng.normal(0, 10 ** (noise_dbfs / 20), len(x)).astype(np.float32)
    return x.astype(np.float32), truth
