"""Two wake-word engines as one detector: a detection when either fires (pure).

openWakeWord's hey_jarvis misses fast speech and takes where the question follows
without a pause; microWakeWord's misses others (it gives 0.000 on most of one eSpeak
voice's takes that openWakeWord finds at 0.95-1.0). On the benchmark's corpus
(``scripts/bench_wakefusion.py``) "openWakeWord >= 0.5 OR microWakeWord >= 0.8" finds
more takes than either at no false accept in the two negative hours, when the
detector's onset window is on; an AND of the two, a mean of the scores, or
microWakeWord as openWakeWord's gate did worse (see the README).

:class:`EitherTrigger` holds one :class:`~.gate.ScoreTrigger` per engine (each with
its threshold, end lag and onset window) and one refractory period for all: the
engines' scores for one wake word arrive at different positions and, since the gated
engine catches up on its pre-roll, out of position order, so a detection by one
silences both for ``refractory_samples`` before and after the chunk that fired. No I/O, no clock;
one thread (the capture thread in the kiosk).
"""

from __future__ import annotations

from collections.abc import Sequence

from .gate import ScoreTrigger

__all__ = ["EitherTrigger"]


class EitherTrigger:
    """Scores of several engines → detections, the first engine to fire wins."""

    def __init__(self, triggers: Sequence[ScoreTrigger], refractory_samples: int) -> None:
        if not triggers:
            raise ValueError("EitherTrigger needs at least one trigger")
        if refractory_samples < 0:
            raise ValueError("refractory_samples must not be negative")
        self._triggers = tuple(triggers)
        self.refractory_samples = refractory_samples
        # End positions of the chunks that fired and may still silence a score: each
        # engine's positions only grow, so one older than every engine's latest by the
        # refractory period never can, and goes.
        self._fired: list[int] = []
        self._latest: list[int | None] = [None] * len(self._triggers)

    def feed(self, engine: int, end_position: int, score: float,
             onset: int | None = None) -> int | None:
        """Engine number ``engine``'s score for its chunk ending at ``end_position`` (in
        speech that began at ``onset``); the wake word's end if this fired.

        Each engine's positions must grow; the engines' may interleave in any order.
        """
        self._latest[engine] = end_position
        r = self.refractory_samples
        if any(abs(end_position - f) < r for f in self._fired):
            return None  # the same wake word, already heard by an engine
        end = self._triggers[engine].feed(end_position, score, onset)
        if end is not None:
            self._fired.append(end_position)
            if None not in self._latest:
                oldest = min(p for p in self._latest if p is not None)
                self._fired = [f for f in self._fired if f + r > oldest]
        return end

    def reset(self) -> None:
        for trigger in self._triggers:
            trigger.reset()
        self._fired = []
        self._latest = [None] * len(self._triggers)
