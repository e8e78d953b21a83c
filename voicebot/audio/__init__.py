"""Audio helpers shared by capture, playback, the CLI and the server.

Pure functions over numpy arrays and bytes; the only I/O is in :mod:`.files`.
"""

from __future__ import annotations

from .convert import downmix, float_to_pcm16, pcm16_to_float, resample
from .wav import WavInfo, decode_wav, encode_wav

__all__ = [
    "WavInfo",
    "decode_wav",
    "encode_wav",
    "downmix",
    "float_to_pcm16",
    "pcm16_to_float",
    "resample",
]

#: The API's streamed audio: PCM16 little-endian mono at this rate.
API_SAMPLE_RATE = 24_000
#: webrtcvad and the segmenter work at this rate.
VAD_SAMPLE_RATE = 16_000
