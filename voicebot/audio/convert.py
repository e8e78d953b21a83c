"""Sample-format conversion, down-mixing and resampling (soxr)."""

from __future__ import annotations

import numpy as np


def pcm16_to_float(pcm: bytes | np.ndarray) -> np.ndarray:
    """PCM16 LE bytes (or an int16 array) → float32 in [-1, 1). Length must be even."""
    samples = np.frombuffer(pcm, dtype="<i2") if isinstance(pcm, (bytes, bytearray, memoryview)) else pcm
    return samples.astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """float32 samples → PCM16 LE bytes, clipped (never wrapped) at full scale."""
    scaled = np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    return scaled.astype("<i2").tobytes()


def downmix(block: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) → mono (frames,) float32 by averaging channels."""
    if block.ndim == 1:
        return block.astype(np.float32, copy=False)
    if block.shape[1] == 1:
        return block[:, 0].astype(np.float32, copy=False)
    mono: np.ndarray = block.mean(axis=1, dtype=np.float32)
    return mono


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole mono signal with soxr (high quality). Returns float32.

    For a stream cut in blocks use ``soxr.ResampleStream`` instead, so block edges
    carry the filter state and no click appears between blocks.
    """
    if in_rate == out_rate:
        return np.asarray(samples, dtype=np.float32)
    import soxr  # here, not at the top: the pure cores use this package's WAV helpers

    resampled: np.ndarray = soxr.resample(np.asarray(samples, dtype=np.float32), in_rate,
                                          out_rate, quality="HQ")
    return resampled
