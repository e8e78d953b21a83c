"""RIFF/WAV encoding and decoding with the standard library's ``wave`` module.

WAV must work without ffmpeg, so this never touches pydub.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample


def encode_wav(pcm16: bytes, sample_rate: int, channels: int = 1) -> bytes:
    """Wrap raw PCM16 LE bytes in a RIFF/WAV header. ``pcm16`` is written unchanged."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm16)
    return buf.getvalue()


def decode_wav(data: bytes) -> tuple[np.ndarray, WavInfo]:
    """Decode WAV bytes → (float32 array shaped (frames, channels), info).

    Handles 8/16/24/32-bit integer PCM. Raises ``ValueError`` (with the reason) for
    anything that is not a readable PCM WAV; callers map it to their own error.
    """
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            info = WavInfo(w.getframerate(), w.getnchannels(), w.getsampwidth())
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file ({exc})") from None
    if info.channels < 1 or info.sample_rate < 1:
        raise ValueError("WAV header has no channels or no sample rate")
    width = info.sample_width
    usable = len(raw) - len(raw) % (width * info.channels)
    raw = raw[:usable]
    if width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16))
        ints = np.where(ints & 0x800000, ints - 0x1000000, ints)
        samples = ints.astype(np.float32) / 8388608.0
    elif width == 4:
        samples = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"unsupported WAV sample width {width * 8} bits")
    return samples.reshape(-1, info.channels), info
