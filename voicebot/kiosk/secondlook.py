"""When to take a second, slowed-down look at a wake word the model nearly heard (pure).

openWakeWord's hey_jarvis misses fast speech: on the benchmark's eSpeak takes it finds
28 % of those at 210 wpm, with scores of 0.05-0.47 on most of the rest. Speech
recognisers meet speaking rate with speed perturbation; here it is done at test time:
when the model's score in a run of speech reaches a "maybe" level under its threshold,
a fresh model instance hears the audio around it again, slowed down, and its best
score over that audio decides (``scripts/bench_wakespeed.py`` measures it).

:class:`SecondLook` decides which looks to take and when their audio is in: feed it
every scored chunk of the first model (its end position, score and the run of
speech's onset), ask :meth:`SecondLook.due` with the capture position reached, and
get :class:`LookRequest` records: the capture span to slow down and score. Running
the model, and firing on its score, is the detector's (``wakeword.py``). No I/O, no
clock (positions are capture sample indices), one thread (the capture thread in the
kiosk).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["SecondLookConfig", "LookRequest", "SecondLook"]


@dataclass(frozen=True)
class SecondLookConfig:
    """Levels are the first model's scores; sizes are samples of the 16 kHz stream."""

    #: A look is asked for when a score reaches this after being under it.
    maybe: float = 0.05
    #: Scores at or over this are the first model's own detection: no look needed.
    primary_threshold: float = 0.5
    #: The look hears audio up to this long after the chunk that reached ``maybe`` (the
    #: score rises before the word has ended).
    delay_samples: int = 5120
    #: How much audio before the look's end it hears (the model reads ~2 s).
    window_samples: int = 32_000
    #: At most one look per this long (the score hovers around ``maybe`` for a while).
    refractory_samples: int = 24_000
    #: Chunks of the first model are this long: a longer step between two scores is a
    #: gap (the gate closed), after which the score counts as having been under ``maybe``.
    chunk_samples: int = 1280

    def __post_init__(self) -> None:
        if not 0.0 < self.maybe <= self.primary_threshold:
            raise ValueError("maybe must be in (0, primary_threshold]")
        if min(self.delay_samples, self.refractory_samples) < 0:
            raise ValueError("delay_samples and refractory_samples must not be negative")
        if self.window_samples <= 0 or self.chunk_samples <= 0:
            raise ValueError("window_samples and chunk_samples must be positive")


class LookRequest(NamedTuple):
    """Score capture ``[start, end)`` slowed down; a detection from it is placed at
    ``trigger_position`` (the chunk that reached the maybe level), in the run of speech
    that began at ``onset``."""

    trigger_position: int
    start: int
    end: int
    onset: int | None


class SecondLook:
    """The first model's scores in; the looks to take, once their audio is in, out."""

    def __init__(self, config: SecondLookConfig | None = None) -> None:
        self.config = config or SecondLookConfig()
        self.reset()

    def reset(self) -> None:
        """Forget the scores and drop the looks not yet due."""
        self._pending: list[LookRequest] = []
        self._last_end: int | None = None
        self._last_score = 0.0
        self._last_trigger: int | None = None

    def feed(self, end_position: int, score: float, onset: int | None = None) -> None:
        """The first model's score for its chunk ending at ``end_position`` (positions grow;
        only chunks whose score counts), in speech that began at ``onset``."""
        c = self.config
        previous = self._last_score
        if self._last_end is None or end_position - self._last_end > c.chunk_samples:
            previous = 0.0
        self._last_end, self._last_score = end_position, score
        if score >= c.primary_threshold:
            self._pending.clear()  # the model heard it: the detector fires on its own
            return
        if score < c.maybe or previous >= c.maybe:
            return
        if self._last_trigger is not None and (
                end_position - self._last_trigger < c.refractory_samples):
            return
        self._last_trigger = end_position
        end = end_position + c.delay_samples
        self._pending.append(LookRequest(end_position, end - c.window_samples, end, onset))

    def due(self, captured_end: int) -> list[LookRequest]:
        """The looks whose audio is all captured by ``captured_end`` (one past the newest
        sample), oldest first; each is returned once."""
        ready = [r for r in self._pending if r.end <= captured_end]
        if ready:
            self._pending = [r for r in self._pending if r.end > captured_end]
        return ready

    @property
    def waiting(self) -> int:
        """Looks asked for whose audio is not all in yet."""
        return len(self._pending)
