"""Comparing recorded or received audio with what was sent (test helpers)."""

from __future__ import annotations

import numpy as np


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two equally long signals (1.0: same shape, any gain)."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def best_lag(recording: np.ndarray, reference: np.ndarray) -> tuple[int, float]:
    """Offset of ``reference`` inside ``recording`` by FFT cross-correlation, and the
    similarity of the aligned part."""
    n = len(recording) + len(reference)
    size = 1 << (n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(reference, size)),
                        size)
    lag = int(np.argmax(corr[: len(recording)]))
    seg = recording[lag: lag + len(reference)]
    return lag, similarity(seg, reference[: len(seg)])
