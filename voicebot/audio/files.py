"""Reading audio files from disk or bytes: WAV natively, anything else through pydub/ffmpeg."""

from __future__ import annotations

import io
import os

import numpy as np

from ..errors import InputFileError
from .convert import downmix
from .wav import decode_wav


def decode_audio_bytes(data: bytes, format_hint: str | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file's bytes → (mono float32 samples, sample_rate).

    WAV is decoded natively; other formats (mp3, ogg, flac, …) go through pydub,
    which needs ffmpeg. Raises ``ValueError`` with the reason when it cannot decode.
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        samples, info = decode_wav(data)
        return downmix(samples), info.sample_rate
    if format_hint == "wav":
        raise ValueError("data is not a RIFF/WAVE file")
    try:
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError
    except ImportError as exc:  # pragma: no cover - pydub is a dependency
        raise ValueError(f"pydub is not available ({exc})") from None
    try:
        seg = AudioSegment.from_file(io.BytesIO(data), format=format_hint)
    except (CouldntDecodeError, IndexError, OSError) as exc:
        raise ValueError(f"could not decode audio ({type(exc).__name__})") from None
    except FileNotFoundError:  # pragma: no cover
        raise ValueError("decoding this format needs ffmpeg, which is not installed") from None
    seg = seg.set_sample_width(2)
    ints = np.array(seg.get_array_of_samples(), dtype=np.int16).reshape(-1, seg.channels)
    return downmix(ints.astype(np.float32) / 32768.0), seg.frame_rate


def read_input_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a file the user named. Errors are :class:`InputFileError` naming it."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputFileError(name, "no such file") from None
    except IsADirectoryError:
        raise InputFileError(name, "is a directory") from None
    except OSError as exc:
        raise InputFileError(name, f"cannot read ({exc.strerror or exc})") from None


def decode_audio_file(path: str | os.PathLike[str], data: bytes) -> tuple[np.ndarray, int]:
    """Decode the bytes read from ``path`` → (mono float32, sample_rate); errors name it."""
    name = os.fspath(path)
    hint = os.path.splitext(name)[1].lstrip(".").lower() or None
    try:
        return decode_audio_bytes(data, hint)
    except ValueError as exc:
        raise InputFileError(name, f"not a readable audio file: {exc}") from None


def read_audio_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read an audio file → (mono float32 samples, sample_rate). Errors name the file."""
    return decode_audio_file(path, read_input_file(path))
