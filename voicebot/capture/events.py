"""What the segmenter reports: speech started, paused, resumed; an utterance ended or
was dropped. Pure data.

:class:`~.segmenter.Segmenter` makes these events (``feed``/``end`` return them) on
whichever thread feeds it (the microphone's capture thread, or the event loop for a
file); :class:`~.report.CaptureReport` carries them to the loop, and the turn-taking
core takes them as its input. Positions are samples of the 16 kHz input since
capture started; ``pcm`` is PCM16 16 kHz mono. ``segmenter.py`` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

__all__ = [
    "SpeechStarted",
    "UtteranceEnded",
    "UtteranceDiscarded",
    "SpeechPaused",
    "SpeechResumed",
    "Event",
]


@dataclass(frozen=True)
class SpeechStarted:
    """Speech began; ``start_sample`` is where the utterance will start (pre-roll included).

    Emitted once the start trigger fires, i.e. ~0.3 s after the onset. Every
    ``SpeechStarted`` is followed by exactly one ``UtteranceEnded`` or ``UtteranceDiscarded``.
    """

    start_sample: int


@dataclass(frozen=True)
class UtteranceEnded:
    """A finished utterance: ``pcm`` is PCM16 16 kHz mono, the input in [start, end)."""

    pcm: bytes
    start_sample: int
    end_sample: int
    reason: Literal["silence", "max_length", "end_of_input"]


@dataclass(frozen=True)
class UtteranceDiscarded:
    """The speech that started at ``start_sample`` is dropped (too short, or muted)."""

    start_sample: int
    end_sample: int
    reason: Literal["too_short", "muted"] = "too_short"


@dataclass(frozen=True)
class SpeechPaused:
    """The current utterance's speech has paused for ``pause_ms``; the turn may end here.

    ``pcm`` is the utterance so far, [``start_sample``, ``end_sample``): what an
    :class:`UtteranceEnded` would carry if the hang-over ends the turn in this pause
    (at most ``tail_ms`` after the last speech frame; exactly that once
    ``pause_ms`` ≥ ``tail_ms``). Once per pause; followed by a
    :class:`SpeechResumed` if speech comes back, or by the utterance's end.
    """

    pcm: bytes
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class SpeechResumed:
    """Speech came back after a :class:`SpeechPaused`: the utterance that started at
    ``start_sample`` goes on, from ``resumed_sample`` (the start of the speech frame)."""

    start_sample: int
    resumed_sample: int


Event = Union[SpeechStarted, UtteranceEnded, UtteranceDiscarded, SpeechPaused, SpeechResumed]
