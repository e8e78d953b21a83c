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


def describe_mismatch(played: np.ndarray, reference: np.ndarray, rate: int,
                      window_ms: int = 50) -> str:
    """Where an aligned recording departs from its reference, for failure messages:
    each window whose similarity is below 0.9, with its start in ms and the local
    shift (in samples) that would align it best. A gap (samples lost in the chain)
    shows as windows whose best shift is not 0 from that point on; a dropout as a
    low window with shift 0."""
    win = rate * window_ms // 1000
    search = rate // 50  # ±20 ms
    bad = []
    for start in range(0, len(reference) - win + 1, win):
        ref = reference[start:start + win]
        if np.linalg.norm(ref) < 1e-3:
            continue  # silence: nothing to compare
        here = similarity(played[start:start + win], ref)
        if here >= 0.9:
            continue
        lo, hi = max(0, start - search), min(len(played), start + win + search)
        lag, score = best_lag(played[lo:hi], ref)
        bad.append(f"{start * 1000 // rate} ms: {here:.2f} (shift {lo + lag - start:+d} → {score:.2f})")
    if not bad:
        return "no window below 0.9"
    more = f"; and {len(bad) - 6} more" if len(bad) > 6 else ""
    return "; ".join(bad[:6]) + more
