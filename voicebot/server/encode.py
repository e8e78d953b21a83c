"""A whole spoken reply (PCM16 LE mono) in the audio format the client asked for.

``wav`` and ``pcm16`` are written here; ``mp3``, ``flac``, ``opus`` (in Ogg, as OpenAI
sends it) and ``aac`` (ADTS) go through ffmpeg via pydub, which voicebot already uses
to decode input audio. Blocks while ffmpeg runs: call from a worker thread.
"""

from __future__ import annotations

import io

from ..audio.wav import encode_wav
from ..errors import VoicebotError

__all__ = ["encode_reply_audio"]

#: format → (ffmpeg container, codec, extra ffmpeg arguments)
_FFMPEG = {
    "mp3": ("mp3", "libmp3lame", ["-b:a", "64k"]),
    "flac": ("flac", "flac", []),
    "opus": ("opus", "libopus", ["-b:a", "32k"]),
    "aac": ("adts", "aac", ["-b:a", "64k"]),
}


def encode_reply_audio(pcm: bytes, sample_rate: int, fmt: str) -> bytes:
    """``pcm`` (PCM16 LE mono at ``sample_rate``) as a file of format ``fmt``.

    Raises ``VoicebotError`` when ffmpeg is missing or fails; ``ValueError`` for a
    format this server does not offer (the request parser refuses those first).
    """
    if fmt == "pcm16":
        return pcm
    if fmt == "wav":
        return encode_wav(pcm, sample_rate)
    if fmt not in _FFMPEG:
        raise ValueError(f"unknown audio format {fmt!r}")
    container, codec, params = _FFMPEG[fmt]
    try:
        from pydub import AudioSegment
        seg = AudioSegment(data=pcm, sample_width=2, frame_rate=sample_rate, channels=1)
        out = io.BytesIO()
        seg.export(out, format=container, codec=codec, parameters=params)
    except Exception as exc:  # noqa: BLE001 - pydub raises several types when ffmpeg fails
        raise VoicebotError(f"could not encode the reply as {fmt}: "
                            f"{type(exc).__name__}") from None
    return out.getvalue()
