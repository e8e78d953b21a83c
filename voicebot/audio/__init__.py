"""Audio helpers shared by capture, playback, the CLI and the server.

Pure functions over numpy arrays and bytes; the only I/O is in :mod:`.files`.

:mod:`.convert` needs soxr (for :func:`~.convert.resample`), so its functions are
re-exported lazily: ``from voicebot.audio import API_SAMPLE_RATE`` (or anything from
:mod:`.wav`) loads numpy only, and the first use of a conversion name loads soxr.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .wav import WavInfo, decode_wav, encode_wav

if TYPE_CHECKING:
    from .convert import downmix, float_to_pcm16, pcm16_to_float, resample

__all__ = [
    "WavInfo",
    "decode_wav",
    "encode_wav",
    "downmix",
    "float_to_pcm16",
    "pcm16_to_float",
    "resample",
    "API_SAMPLE_RATE",
    "VAD_SAMPLE_RATE",
]

#: The API's streamed audio: PCM16 little-endian mono at this rate.
API_SAMPLE_RATE = 24_000
#: webrtcvad and the segmenter work at this rate.
VAD_SAMPLE_RATE = 16_000

_FROM_CONVERT = frozenset({"downmix", "float_to_pcm16", "pcm16_to_float", "resample"})


def __getattr__(name: str) -> Any:
    """Module attribute hook (PEP 562): the :mod:`.convert` names, imported on first use."""
    if name in _FROM_CONVERT:
        return getattr(importlib.import_module(".convert", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
