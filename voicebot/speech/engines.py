"""What a speech engine must offer, so another engine can be plugged in. Pure (typing only).

:class:`Recognizer` is met by :class:`~voicebot.speech.recognize.PocketsphinxRecognizer`,
:class:`SpeechSynthesizer` by :class:`~voicebot.speech.synth.Synthesizer`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Recognizer", "SpeechSynthesizer"]


class Recognizer(Protocol):
    """Anything that turns one utterance into text."""

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        """Mono float32 ``samples`` at ``sample_rate`` → lower-case text ('' if none).

        Blocks while decoding: call from a worker thread. Must be thread-safe: callers
        do not serialise calls (an engine that cannot decode concurrently locks inside).
        """
        ...


class SpeechSynthesizer(Protocol):
    """Anything that speaks text as PCM16 LE mono at 24 kHz, piece by piece."""

    def synthesize(self, text: str, *, voice: str = ..., ssml: bool = ...,
                   cancel: threading.Event | None = ...) -> Iterable[bytes]:
        """Yield the audio of ``text`` (one piece per sentence). Blocks: call from a worker
        thread. Must be thread-safe; stop early when ``cancel`` is set."""
        ...
